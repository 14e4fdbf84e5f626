// Harbour's own page behaviour: sortable and filterable tables. No third-party code besides htmx.
(function () {
  "use strict";

  function cellValue(row, index) {
    const cell = row.children[index];
    if (!cell) return "";
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    const num = Number(raw.replace(/[,%]/g, ""));
    return raw !== "" && !Number.isNaN(num) ? num : raw.toLowerCase();
  }

  function sortBy(table, th) {
    const index = Array.prototype.indexOf.call(th.parentNode.children, th);
    const asc = !th.classList.contains("asc");
    table.querySelectorAll("th").forEach((h) => h.classList.remove("asc", "desc"));
    th.classList.add(asc ? "asc" : "desc");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, index), y = cellValue(b, index);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach((r) => body.appendChild(r));
  }

  function filterRows(table, text) {
    const needle = text.trim().toLowerCase();
    let shown = 0;
    Array.from(table.tBodies[0].rows).forEach((row) => {
      const hit = !needle || row.textContent.toLowerCase().includes(needle);
      row.hidden = !hit;
      if (hit) shown += 1;
    });
    const counter = document.querySelector('[data-count-for="' + table.id + '"]');
    if (counter) counter.textContent = shown + " shown";
  }

  function wire(root) {
    root.querySelectorAll("table.data th[data-sort]").forEach((th) => {
      if (th.dataset.wired) return;
      th.dataset.wired = "1";
      th.addEventListener("click", () => sortBy(th.closest("table"), th));
    });
    root.querySelectorAll("input[data-filter-for]").forEach((input) => {
      if (input.dataset.wired) return;
      input.dataset.wired = "1";
      const table = document.getElementById(input.dataset.filterFor);
      input.addEventListener("input", () => filterRows(table, input.value));
    });
  }

  document.addEventListener("DOMContentLoaded", () => wire(document));
  document.addEventListener("htmx:afterSwap", (e) => wire(e.target));
})();
