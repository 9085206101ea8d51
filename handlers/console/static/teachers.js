// Teachers' pages, small enhancements (each page works without them): "select all"
// for bulk approve with a count of what is ticked, a confirmation before forms that
// cannot be undone, and a print button on the join code's sheet.
"use strict";
(function () {
  var bulk = document.getElementById("bulk");
  if (bulk) {
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type=checkbox][name=ids][form="bulk"]'));
    var all = bulk.querySelector("[data-select-all]");
    var allBox = all && all.querySelector("input");
    var picked = bulk.querySelector("[data-picked]");
    var update = function () {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      if (allBox) {
        allBox.checked = ticked > 0 && ticked === boxes.length;
        allBox.indeterminate = ticked > 0 && ticked < boxes.length;
      }
      if (picked) { picked.textContent = "已选 " + ticked + " 条"; }
    };
    if (all && boxes.length) {
      all.hidden = false;
      allBox.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = allBox.checked; });
        update();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    bulk.addEventListener("submit", function () {
      var button = bulk.querySelector("button[type=submit]");
      // After the form is on its way: a second click sends nothing twice.
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
    update();
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
