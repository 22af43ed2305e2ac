// killproof's HTML report: draws the charts described in #kp-charts with uPlot.
// What it did is written into the DOM, so a headless browser can check it: every chart
// figure gets data-kp-drawn (painted canvas pixels, or drawn SVG marks) and uPlot charts
// data-kp-series / data-kp-points / data-kp-series-pixels (pixels in a series colour); <html> gets data-kp-errors (any script error) and
// data-kp-ready once every chart was created.
(function () {
  "use strict";
  var root = document.documentElement;
  var errors = [];
  function fail(message) {
    errors.push(String(message));
    root.setAttribute("data-kp-errors", errors.join(" | "));
  }
  window.addEventListener("error", function (event) { fail(event.message); });
  var consoleError = console.error;
  console.error = function () {
    fail(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };

  var MARKER = { limit: "#b3261e", gomemlimit: "#d46b08", oom: "#7f0000", thrash: "#4a148c",
    signal: "#00838f", step: "#9aa3ad", slo: "#b3261e" };
  var SERIES = ["#1c5fa8", "#1e7a34", "#c9a000", "#8e44ad"];  // none a marker colour

  var SERIES_RGB = SERIES.map(function (hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
  });

  // Pixels of a canvas on a sparse grid: [painted at all, painted in a series colour]
  // (axes, grid and markers have colours of their own, so the second says data was drawn).
  function paintedPixels(canvas) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height;
    if (!w || !h) return [0, 0];
    var data = ctx.getImageData(0, 0, w, h).data;
    var painted = 0, series = 0;
    for (var i = 0; i < data.length; i += 4 * 3) {
      if (data[i + 3] === 0) continue;
      painted++;
      for (var c = 0; c < SERIES_RGB.length; c++) {
        var rgb = SERIES_RGB[c];
        if (Math.abs(data[i] - rgb[0]) < 20 && Math.abs(data[i + 1] - rgb[1]) < 20 &&
            Math.abs(data[i + 2] - rgb[2]) < 20) { series++; break; }
      }
    }
    return [painted, series];
  }

  function markers(spec) {
    return function (u) {
      var ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1;
      ctx.save();
      ctx.lineWidth = 1.5 * ratio;
      ctx.font = (11 * ratio) + "px system-ui, sans-serif";
      spec.hlines.forEach(function (m) {
        var y = u.valToPos(m.value, "y", true);
        ctx.strokeStyle = ctx.fillStyle = MARKER[m.kind] || "#333";
        ctx.setLineDash(m.kind === "gomemlimit" ? [6 * ratio, 4 * ratio] : []);
        ctx.beginPath(); ctx.moveTo(box.left, y); ctx.lineTo(box.left + box.width, y); ctx.stroke();
        ctx.textAlign = "right";
        ctx.fillText(m.label, box.left + box.width - 4 * ratio, y - 4 * ratio);
      });
      spec.vlines.forEach(function (m) {
        var x = u.valToPos(m.value, "x", true);
        ctx.strokeStyle = ctx.fillStyle = MARKER[m.kind] || "#333";
        ctx.setLineDash(m.kind === "step" ? [3 * ratio, 3 * ratio] : []);
        ctx.beginPath(); ctx.moveTo(x, box.top); ctx.lineTo(x, box.top + box.height); ctx.stroke();
        // Written up along its line (left of it), clear of the horizontal markers' labels.
        ctx.save();
        ctx.translate(x - 4 * ratio, box.top + 4 * ratio);
        ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "right";
        ctx.fillText(m.label, 0, 0);
        ctx.restore();
      });
      ctx.restore();
    };
  }

  function draw(spec, figure) {
    var plot = figure.querySelector(".plot");
    var width = Math.max(320, Math.min(plot.clientWidth || 1000, 1120));
    var marks = spec.hlines.map(function (m) { return m.value; });
    var series = [{ label: spec.x_label }];
    spec.series.forEach(function (label, i) {
      // Points where the line alone would hardly show: few x values, or a sparse series.
      var values = spec.data[i + 1].filter(function (v) { return v !== null; }).length;
      var sparse = spec.x_is_rate || values < 3 || values * 10 < spec.data[0].length;
      series.push({ label: label, stroke: SERIES[i % SERIES.length], width: 2,
        points: { show: sparse, size: 6 }, spanGaps: false });
    });
    var opts = {
      width: width, height: 300, series: series,
      scales: {
        x: { time: false, range: function (u, min, max) {
          var pad = spec.x_is_rate ? Math.max((max - min) * 0.08, min * 0.1, 1) : 0;
          return [Math.max(0, min - pad), max + pad];
        } },
        y: { range: function (u, min, max) {
          var top = Math.max.apply(null, [max, 1].concat(marks));
          return [0, top * 1.08];
        } }
      },
      axes: [{ label: spec.x_label }, { label: spec.y_label, size: 60 }],
      legend: { live: false },
      hooks: {
        draw: [markers(spec), function (u) {
          figure.setAttribute("data-kp-series", String(u.series.length - 1));
          figure.setAttribute("data-kp-points", String(u.data[0].length));
          var pixels = paintedPixels(u.ctx.canvas);
          figure.setAttribute("data-kp-drawn", String(pixels[0]));
          figure.setAttribute("data-kp-series-pixels", String(pixels[1]));
        }]
      }
    };
    return new uPlot(opts, spec.data, plot);
  }

  function drawSvg(figure) {
    var svg = figure.querySelector("svg");
    var box = svg.getBBox();
    var marks = 0;
    svg.querySelectorAll("rect").forEach(function (r) {
      if (r.getBBox().width > 0 && r.getBBox().height > 0) marks++;
    });
    figure.setAttribute("data-kp-drawn", String(box.width * box.height > 0 ? marks : 0));
  }

  document.addEventListener("DOMContentLoaded", function () {
    try {
      var specs = JSON.parse(document.getElementById("kp-charts").textContent);
      var byId = {};
      specs.forEach(function (s) { byId[s.id] = s; });
      document.querySelectorAll("[data-kp-chart]").forEach(function (figure) {
        try {
          if (figure.getAttribute("data-kp-chart") === "svg") return drawSvg(figure);
          if (typeof uPlot === "undefined") throw new Error("uPlot is missing");
          var spec = byId[figure.getAttribute("data-kp-spec")];
          if (!spec) throw new Error("no data for chart " + figure.id);
          draw(spec, figure);
        } catch (e) {
          fail(figure.id + ": " + e);
        }
      });
    } catch (e) {
      fail(e);
    }
    root.setAttribute("data-kp-ready", "1");
  });
})();
