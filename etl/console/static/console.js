// Progressive enhancement only: every page works without this file (docs/console.md).
// The overview reloads itself every minute while the tab is visible.
(function () {
  if (document.getElementById("jobs")) {
    setInterval(function () { if (!document.hidden) { window.location.reload(); } }, 60000);
  }
})();

// The audience upload shows its progress: the same POST as the form's (the file streamed from disk by the browser,
// the CSRF token in the form data), sent by XMLHttpRequest for its upload events. The server answers as it does to
// the plain form: 303 to the run page (followed, then shown), or the form again with its sentence (shown as is).
(function () {
  var form = document.getElementById("audience-upload");
  var bar = document.getElementById("upload-progress");
  if (!form || !bar || !window.FormData || !window.XMLHttpRequest) { return; }
  var status = document.getElementById("upload-status");
  var button = document.getElementById("audience-submit");
  var mib = function (bytes) { return (bytes / 1048576).toFixed(1); };
  var say = function (text) { if (status) { status.textContent = text; } };
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      bar.max = e.total;
      bar.value = e.loaded;
      say("Uploading: " + Math.floor(100 * e.loaded / e.total) + " % (" + mib(e.loaded) + " of " + mib(e.total) + " MiB)");
    });
    xhr.upload.addEventListener("load", function () { say("Uploaded; checking the file…"); });
    xhr.addEventListener("load", function () {
      var landed = xhr.responseURL && xhr.responseURL.indexOf("/audience/runs/") !== -1;
      if (landed) {
        window.location.assign(xhr.responseURL);
      } else {  // a refusal (400, 413, ...): the page the server answered, with its sentence
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener("error", function () {
      say("The upload failed (connection lost): try again.");
      if (button) { button.disabled = false; }
    });
    bar.hidden = false;
    if (button) { button.disabled = true; }
    say("Uploading…");
    xhr.send(new FormData(form));
  });
})();
