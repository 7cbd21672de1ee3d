"""The websocket that tells a browser which plants' transactions changed."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from controltower.live import plant_group


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        # Join only the groups of plants this person may see: scoping is decided here, once.
        self.groups_joined = await database_sync_to_async(
            lambda: [plant_group(code) for code in user.visible_plants().values_list("code", flat=True)]
        )()
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def transactions_changed(self, event):
        await self.send_json({"type": event["type"], "plant": event["plant"]})
