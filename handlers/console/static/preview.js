// The editor's live preview: the server renders the Markdown with the same sanitiser
// as published stories. Without this script the "预览" button does the same.
"use strict";
(function () {
  var source = document.querySelector("textarea[data-preview]");
  if (!source || !window.fetch) { return; }
  var target = document.getElementById(source.getAttribute("data-preview"));
  var form = source.form;
  var token = form.querySelector("input[name=csrf_token]").value;
  var timer = null;
  var sent = 0;
  function refresh() {
    var mine = ++sent;
    fetch("/admin/stories/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token },
      body: new URLSearchParams({ body_markdown: source.value })
    }).then(function (response) {
      if (!response.ok || response.redirected) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) {
      if (mine === sent) { target.innerHTML = html; }
    }).catch(function () { /* the preview button still works */ });
  }
  source.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
})();
