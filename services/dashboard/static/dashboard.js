// The dashboard's page script: polls /data every data-poll-ms and puts the fresh figures,
// tables, kecamatan tiles and charts in place. Nothing is fetched from anywhere but this server.
(function () {
  "use strict";
  var body = document.body;
  var pollMs = parseInt(body.dataset.pollMs || "5000", 10);
  var commitment = body.dataset.commitment || "";
  var charts = {};
  var COLOURS = ["#0b6e4f", "#f2a541", "#3066be", "#c0392b", "#7d5ba6", "#2a9d8f"];

  function setBars() {
    document.querySelectorAll("[data-bar]").forEach(function (bar) {
      var width = Math.max(0, Math.min(100, parseFloat(bar.dataset.width || "0")));
      bar.style.width = width + "%";
    });
  }

  function chartConfig(kind, data) {
    var horizontal = kind === "hbar";
    return {
      type: kind === "line" ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (set, i) {
          return {
            label: set.label,
            data: set.data,
            backgroundColor: COLOURS[i % COLOURS.length],
            borderColor: COLOURS[i % COLOURS.length],
            fill: false,
            tension: 0.2
          };
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: data.datasets.length > 1, position: "bottom" } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    };
  }

  function drawCharts(data) {
    if (typeof window.Chart === "undefined") { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var name = canvas.dataset.chart;
      var series = data[name];
      if (!series) { return; }
      if (charts[name]) {
        charts[name].data.labels = series.labels;
        series.datasets.forEach(function (set, i) {
          if (charts[name].data.datasets[i]) { charts[name].data.datasets[i].data = set.data; }
        });
        charts[name].update("none");
      } else {
        charts[name] = new window.Chart(canvas, chartConfig(canvas.dataset.kind, series));
      }
    });
  }

  function fillTable(tbody, rows) {
    var columns = parseInt(tbody.dataset.columns || "1", 10);
    tbody.replaceChildren();
    if (!rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = columns;
      td.textContent = tbody.dataset.empty || "";
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function fillGrid(list, tiles) {
    list.replaceChildren();
    tiles.forEach(function (tile) {
      var li = document.createElement("li");
      li.className = "tile level-" + tile.level;
      li.dataset.kecamatan = tile.kecamatan;
      li.dataset.value = String(tile.enrolled);
      [["name", tile.kecamatan], ["value", tile.enrolled_text], ["detail", tile.detail]].forEach(function (part) {
        var span = document.createElement("span");
        span.className = part[0];
        span.textContent = part[1];
        li.appendChild(span);
      });
      list.appendChild(li);
    });
  }

  function apply(page) {
    Object.keys(page.figures || {}).forEach(function (key) {
      document.querySelectorAll('[data-figure="' + key + '"]').forEach(function (el) {
        el.textContent = page.figures[key].text;
        el.dataset.value = String(page.figures[key].value);
      });
      document.querySelectorAll('[data-bar="' + key + '"]').forEach(function (bar) {
        bar.dataset.width = String(page.figures[key].value);
      });
    });
    setBars();
    document.querySelectorAll("tbody[data-table]").forEach(function (tbody) {
      var rows = (page.tables || {})[tbody.dataset.table];
      if (rows) { fillTable(tbody, rows); }
    });
    var grid = document.querySelector('[data-grid="kecamatan"]');
    if (grid && page.grid) { fillGrid(grid, page.grid); }
    drawCharts(page.charts || {});
    var updated = document.getElementById("updated");
    if (updated) { updated.textContent = page.updated; }
    body.dataset.refreshed = String(Date.now());
  }

  function status(text) {
    var el = document.getElementById("status");
    if (el) { el.textContent = text; }
  }

  function poll() {
    var url = "/data" + (commitment ? "?commitment_id=" + encodeURIComponent(commitment) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        return response.json().then(function (page) {
          if (!response.ok) { status(page.error || "Gagal memuat data."); return null; }
          return page;
        });
      })
      .then(function (page) {
        if (page) { apply(page); status(""); }
      })
      .catch(function () { status("Tidak tersambung; mencoba lagi…"); })
      .finally(function () { window.setTimeout(poll, pollMs); });
  }

  setBars();
  poll();
})();
