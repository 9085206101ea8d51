// The comment queue's "全选": checks or clears every comment's box at once. Without
// this script each box is checked by hand (the box is hidden then).
"use strict";
(function () {
  var toggle = document.querySelector("[data-select-all]");
  if (!toggle) { return; }
  var all = toggle.querySelector("input");
  var boxes = Array.prototype.slice.call(toggle.closest("form").querySelectorAll("input[name=ids]"));
  if (!boxes.length) { return; }
  toggle.hidden = false;
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var checked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    });
  });
})();
