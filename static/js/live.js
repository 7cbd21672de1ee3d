// Live notices: the server says which plant changed; we never reorder a list under the reader.
// A changed list shows "New activity — show"; the reader decides when to refresh it.
(function () {
  const table = document.querySelector("[data-live]");
  const notice = document.getElementById("live-notice");
  if (!table || !notice || !("WebSocket" in window)) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let retry = 1000;
  function connect() {
    const socket = new WebSocket(`${scheme}://${location.host}/ws/live/`);
    socket.onmessage = () => { notice.hidden = false; };
    socket.onopen = () => { retry = 1000; };
    socket.onclose = () => { setTimeout(connect, retry); retry = Math.min(retry * 2, 30000); };
  }
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "transaction-table") notice.hidden = true;
  });
  connect();
})();
