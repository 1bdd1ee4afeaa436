// Progressive enhancement only: every page works without this file (docs/console.md).
// The overview reloads itself every minute while the tab is visible.
(function () {
  if (document.getElementById("jobs")) {
    setInterval(function () { if (!document.hidden) { window.location.reload(); } }, 60000);
  }
})();
