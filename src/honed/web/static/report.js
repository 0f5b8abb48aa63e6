/* honed report views: matrix filters and cell details. No dependencies; every value from the
   data is written with textContent, never as HTML. Event delegation, so content swapped in
   later (the dashboard's live view) works without re-binding. */
(function () {
  "use strict";

  function viewOf(node) { return node.closest(".matrix-view"); }

  function dataOf(view) {
    if (!view._data) {
      var holder = view.querySelector("script.matrix-data");
      view._data = holder ? JSON.parse(holder.textContent) : { rows: [], cells: [], columns: [] };
    }
    return view._data;
  }

  function applyFilters(view) {
    var failing = view.querySelector("input.f-failing");
    var differs = view.querySelector("input.f-differs");
    var shown = 0;
    view.querySelectorAll("tr.example").forEach(function (row) {
      var hide = (failing && failing.checked && row.dataset.failing !== "1") ||
                 (differs && differs.checked && row.dataset.differs !== "1");
      row.hidden = !!hide;
      if (!hide) { shown += 1; }
    });
    var count = view.querySelector(".shown-count");
    if (count) { count.textContent = String(shown); }
  }

  function field(parent, label, value, pre) {
    var box = document.createElement("div");
    box.className = "field";
    var title = document.createElement("b");
    title.textContent = label;
    var body = document.createElement(pre ? "pre" : "div");
    body.textContent = value;
    box.appendChild(title);
    box.appendChild(body);
    parent.appendChild(box);
  }

  function text(value) {
    if (value === null || value === undefined) { return "-"; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function showCell(td) {
    var view = viewOf(td);
    var data = dataOf(view);
    var r = Number(td.dataset.r), c = Number(td.dataset.c);
    var row = data.rows[r], cell = (data.cells[r] || [])[c];
    if (!row || !cell) { return; }
    view.querySelectorAll("td.cell.selected").forEach(function (n) { n.classList.remove("selected"); });
    td.classList.add("selected");
    var panel = view.querySelector(".detail");
    var body = panel.querySelector(".detail-body");
    body.textContent = "";
    var head = document.createElement("h3");
    head.textContent = "example " + row.id + " · " + data.columns[c] + " · " + cell.state;
    body.appendChild(head);
    if (row.inputs) {
      Object.keys(row.inputs).forEach(function (k) { field(body, "input: " + k, text(row.inputs[k]), true); });
    } else {
      field(body, "input", "(not available: see the notes)", false);
    }
    field(body, "output", cell.output, true);
    if (cell.error) { field(body, "error", cell.error, true); }
    cell.evals.forEach(function (e) {
      var verdict = (e.passed ? "pass" : "fail") + (e.score === null ? "" : " · score " + Number(e.score).toFixed(3)) +
                    (e.category ? " · " + e.category : "");
      field(body, "eval " + e.name + " (" + verdict + ")", e.feedback || "(no feedback)", true);
    });
    field(body, "call", cell.input_tokens + " tokens in, " + cell.output_tokens + " out, " +
          Number(cell.latency_s).toFixed(3) + " s" + (cell.cached ? ", cached" : ""), false);
    panel.hidden = false;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input.f-failing, input.f-differs")) {
      applyFilters(viewOf(target));
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var td = target.closest && target.closest("td.cell[data-c]");
    if (td) { showCell(td); return; }
    var close = target.closest && target.closest("button.detail-close");
    if (close) { close.closest(".detail").hidden = true; }
  });

  document.addEventListener("keydown", function (event) {
    var td = event.target.closest && event.target.closest("td.cell[data-c]");
    if (td && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); showCell(td); }
  });

  document.addEventListener("honed:swapped", function () {
    document.querySelectorAll(".matrix-view").forEach(function (view) { view._data = null; applyFilters(view); });
  });
})();
