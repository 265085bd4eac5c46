/* raft-chaos report: the interactive charts (timeline, latency, throughput), drawn on
   canvas from the JSON embedded in the page. No network, no libraries. All three charts
   share one time window: drag to pan, Ctrl+wheel (or the buttons) to zoom, double-click
   to zoom in, Esc or "reset" for the whole run. Script errors are counted on <html
   data-js-errors> and shown in a bar at the top, so a broken chart never goes unseen. */
(function () {
  "use strict";
  var root = document.documentElement;
  var errors = [];
  function recordError(msg) {
    errors.push(String(msg));
    root.setAttribute("data-js-errors", String(errors.length));
    var bar = document.getElementById("js-errors");
    if (bar) {
      bar.hidden = false;
      bar.textContent = "A chart failed to draw: " + errors.join("; ") +
        ". The rest of the report is intact.";
    }
  }
  root.setAttribute("data-js-errors", "0");
  window.addEventListener("error", function (e) { recordError(e.message || e); });

  var TYPE_NAMES = ["ok", "fail", "info", "pending"];
  var TYPE_COLORS = ["#2f9e44", "#e03131", "#f59f00", "#868e96"];
  var F_COLORS = ["#1c7ed6", "#7048e8", "#0ca678", "#d6336c", "#f76707", "#495057",
                  "#1098ad", "#ae3ec9", "#74b816", "#c92a2a"];
  var QUANTS = [["p50", []], ["p95", [6, 3]], ["p99", [2, 3]], ["max", [1, 4]]];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }

  function setupCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var src = document.getElementById(b.getAttribute("data-copy"));
        var text = src ? src.textContent : "";
        var done = function () { b.textContent = "copied"; setTimeout(function () { b.textContent = "copy"; }, 1500); };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(src); });
        } else { selectText(src); try { document.execCommand("copy"); done(); } catch (e) { /* selected */ } }
      });
    });
  }
  function selectText(node) {
    if (!node) return;
    var r = document.createRange(); r.selectNodeContents(node);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
  }

  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function fmtTime(t, step) {
    if (step >= 1) return t.toFixed(0) + " s";
    if (step >= 0.001) return t.toFixed(Math.min(3, Math.ceil(-Math.log10(step)))) + " s";
    return (t * 1000).toFixed(Math.min(3, Math.ceil(-Math.log10(step * 1000)))) + " ms";
  }
  function fmtMs(ms) {
    if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
    if (ms >= 10) return ms.toFixed(0) + " ms";
    if (ms >= 1) return ms.toFixed(1) + " ms";
    return ms.toFixed(2) + " ms";
  }
  function fmtTickMs(ms) {
    if (ms >= 1000) return +(ms / 1000).toPrecision(3) + " s";
    return +ms.toPrecision(3) + " ms";
  }
  function lowerBound(arr, key, x) { // first i with key(arr[i]) >= x
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (key(arr[mid]) < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function main() {
    setupCopyButtons();
    var dataNode = document.getElementById("report-data");
    if (!dataNode) return;
    var D = JSON.parse(dataNode.textContent);
    if (!D.chart) return;
    var C = D.chart;
    var O = C.ops;
    var n = O.s.length;
    var span = Math.max(C.span_s, 1e-3);
    var view = {a: 0, b: span};
    var charts = [];
    var hiddenF = {};
    var tooltip = document.getElementById("tooltip");

    // Rows sorted by start; derived arrays in seconds.
    var S = new Float64Array(n), E = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      S[i] = O.s[i] / 1e6;
      E[i] = O.e[i] < 0 ? span : O.e[i] / 1e6;
    }
    var order = Array.from({length: n}, function (_, i) { return i; });
    order.sort(function (x, y) { return S[x] - S[y]; });
    var maxDur = 0;
    for (i = 0; i < n; i++) maxDur = Math.max(maxDur, E[i] - S[i]);
    var cxRows = {};
    (C.cx_rows || []).forEach(function (r) { cxRows[r] = true; });
    var fColor = {};
    C.fs.forEach(function (f, k) { fColor[k] = F_COLORS[k % F_COLORS.length]; });

    function setView(a, b) {
      var w = b - a, minW = 1e-4;
      if (!(w > minW)) { var m = (a + b) / 2; a = m - minW / 2; b = m + minW / 2; }
      if (b - a >= span) { a = 0; b = span; }
      if (a < 0) { b -= a; a = 0; }
      if (b > span) { a -= b - span; b = span; }
      view.a = Math.max(0, a); view.b = b;
      charts.forEach(function (c) { c.draw(); });
      var label = document.getElementById("view-range");
      if (label) {
        var step = niceStep((view.b - view.a) / 8);
        label.textContent = (view.a === 0 && view.b === span) ? "whole run (" + fmtTime(span, 1) + ")"
          : fmtTime(view.a, step / 10) + " – " + fmtTime(view.b, step / 10) + " of " + fmtTime(span, 1);
      }
    }
    function zoom(factor, center) {
      var c = center === undefined ? (view.a + view.b) / 2 : center;
      setView(c - (c - view.a) * factor, c + (view.b - c) * factor);
    }
    function pan(frac) { var w = view.b - view.a; setView(view.a + w * frac, view.b + w * frac); }

    function showTip(html, ev) {
      if (!html) { tooltip.hidden = true; return; }
      tooltip.innerHTML = html;
      tooltip.hidden = false;
      var x = ev.clientX + 14, y = ev.clientY + 14;
      var w = tooltip.offsetWidth, h = tooltip.offsetHeight;
      if (x + w > window.innerWidth - 8) x = ev.clientX - w - 14;
      if (y + h > window.innerHeight - 8) y = ev.clientY - h - 14;
      tooltip.style.left = x + "px"; tooltip.style.top = y + "px";
    }

    // A chart: a canvas sized to its box, a shared time axis, pan/zoom/hover handling.
    function makeChart(canvas, spec) {
      var ctx = canvas.getContext("2d");
      var L = 72, R = 14, T = spec.top || 8, B = 26;
      var chart = {canvas: canvas, g: null};
      function geometry() {
        var width = Math.max(320, canvas.parentElement.clientWidth);
        var height = spec.height();
        var dpr = window.devicePixelRatio || 1;
        if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
          canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
          canvas.style.width = width + "px"; canvas.style.height = height + "px";
        }
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        var W = width - L - R, H = height - T - B;
        return {L: L, T: T, W: W, H: H, width: width, height: height,
                x: function (t) { return L + (t - view.a) / (view.b - view.a) * W; },
                t: function (x) { return view.a + (x - L) / W * (view.b - view.a); }};
      }
      chart.draw = function () {
        var g = chart.g = geometry();
        ctx.clearRect(0, 0, g.width, g.height);
        ctx.save();
        ctx.beginPath(); ctx.rect(g.L, g.T, g.W, g.H); ctx.clip();
        drawBands(ctx, g);
        spec.plot(ctx, g);
        ctx.restore();
        drawTimeAxis(ctx, g);
        if (spec.axis) spec.axis(ctx, g);
      };
      var drag = null;
      canvas.addEventListener("mousedown", function (ev) {
        drag = {x: ev.clientX, a: view.a, b: view.b}; canvas.classList.add("dragging"); ev.preventDefault();
      });
      window.addEventListener("mouseup", function () { drag = null; canvas.classList.remove("dragging"); });
      window.addEventListener("mousemove", function (ev) {
        if (!drag || !chart.g) return;
        var dt = (ev.clientX - drag.x) / chart.g.W * (drag.b - drag.a);
        setView(drag.a - dt, drag.b - dt);
      });
      canvas.addEventListener("mousemove", function (ev) {
        if (drag || !chart.g) { showTip(null); return; }
        var r = canvas.getBoundingClientRect();
        var x = ev.clientX - r.left, y = ev.clientY - r.top;
        showTip(spec.hover ? spec.hover(x, y, chart.g) : null, ev);
      });
      canvas.addEventListener("mouseleave", function () { showTip(null); });
      canvas.addEventListener("wheel", function (ev) {
        if (!chart.g) return;
        if (ev.ctrlKey || ev.metaKey) {
          ev.preventDefault();
          var r = canvas.getBoundingClientRect();
          zoom(Math.exp(ev.deltaY * 0.002), chart.g.t(ev.clientX - r.left));
        } else if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
          ev.preventDefault();
          pan(ev.deltaX / chart.g.W);
        }
      }, {passive: false});
      canvas.addEventListener("dblclick", function (ev) {
        var r = canvas.getBoundingClientRect();
        zoom(ev.shiftKey ? 2 : 0.5, chart.g.t(ev.clientX - r.left));
      });
      charts.push(chart);
      return chart;
    }

    function drawBands(ctx, g) {
      C.windows.forEach(function (w) {
        var x0 = g.x(w.s), x1 = g.x(w.e);
        if (x1 < g.L || x0 > g.L + g.W) return;
        ctx.fillStyle = w.color; ctx.globalAlpha = 0.13;
        ctx.fillRect(x0, g.T, Math.max(1, x1 - x0), g.H);
        ctx.globalAlpha = 1;
      });
    }
    function drawTimeAxis(ctx, g) {
      var step = niceStep((view.b - view.a) / Math.max(2, g.W / 100));
      ctx.strokeStyle = "#adb5bd"; ctx.fillStyle = "#495057"; ctx.lineWidth = 1;
      ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
      var y = g.T + g.H;
      ctx.beginPath(); ctx.moveTo(g.L, y + 0.5); ctx.lineTo(g.L + g.W, y + 0.5); ctx.stroke();
      for (var t = Math.ceil(view.a / step) * step; t <= view.b + 1e-12; t += step) {
        var x = Math.round(g.x(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y + 4); ctx.stroke();
        ctx.fillText(fmtTime(t, step), x, y + 6);
      }
    }

    // ---- timeline ------------------------------------------------------------------
    var procs = Array.from(new Set(O.p)).sort(function (x, y) { return x - y; });
    var conc = C.concurrency || 0;
    var laneMode = (procs.length > 48 && conc > 0) ? "worker" : "process";
    var lanes = null;
    function buildLanes() {
      var key = laneMode === "worker" ? function (p) { return p % conc; } : function (p) { return p; };
      var names = Array.from(new Set(procs.map(key))).sort(function (x, y) { return x - y; });
      var index = {};
      names.forEach(function (k, j) { index[k] = j; });
      var rows = names.map(function () { return []; });
      order.forEach(function (r) { rows[index[key(O.p[r])]].push(r); });
      lanes = {names: names, rows: rows, laneOf: function (r) { return index[key(O.p[r])]; }};
    }
    buildLanes();
    var NEM_H = 24, LEAD_H = C.leaders.length ? 18 : 0;
    function laneH() { return lanes.names.length <= 40 ? 16 : Math.max(4, Math.floor(640 / lanes.names.length)); }
    function laneTop(g, j) { return g.T + NEM_H + LEAD_H + j * laneH(); }
    function visibleRows(rows, g) {
      var lo = lowerBound(rows, function (r) { return S[r]; }, view.a - maxDur);
      var hi = lowerBound(rows, function (r) { return S[r]; }, view.b + 1e-9);
      return [lo, hi];
    }

    var timeline = document.getElementById("timeline-canvas");
    if (timeline) {
      makeChart(timeline, {
        height: function () { return 8 + NEM_H + LEAD_H + lanes.names.length * laneH() + 26; },
        plot: function (ctx, g) {
          var h = laneH();
          // lane stripes
          for (var j = 0; j < lanes.names.length; j++) {
            if (j % 2) { ctx.fillStyle = "rgba(0,0,0,0.025)"; ctx.fillRect(g.L, laneTop(g, j), g.W, h); }
          }
          // nemesis lane
          ctx.fillStyle = "#f1f3f5"; ctx.fillRect(g.L, g.T, g.W, NEM_H - 2);
          C.windows.forEach(function (w) {
            var x0 = Math.max(g.L, g.x(w.s)), x1 = Math.min(g.L + g.W, g.x(w.e));
            if (x1 <= x0) return;
            ctx.fillStyle = w.color; ctx.globalAlpha = 0.55; ctx.fillRect(x0, g.T + 3, Math.max(2, x1 - x0), NEM_H - 8);
            ctx.globalAlpha = 1;
            if (x1 - x0 > 50) {
              ctx.fillStyle = "#fff"; ctx.font = "bold 11px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
              ctx.fillText(w.family, x0 + 4, g.T + NEM_H / 2 - 1);
            }
          });
          C.nemesis.forEach(function (o) {
            var x = g.x(o.s);
            if (x < g.L - 2 || x > g.L + g.W + 2) return;
            ctx.fillStyle = "#212529"; ctx.fillRect(x - 0.5, g.T, 1.5, NEM_H - 2);
          });
          // leader changes
          if (LEAD_H) {
            C.leaders.forEach(function (m) {
              var x = g.x(m.t);
              if (x < g.L - 4 || x > g.L + g.W + 4) return;
              var y = g.T + NEM_H + 2;
              ctx.fillStyle = "#364fc7"; ctx.beginPath(); ctx.moveTo(x, y + 12); ctx.lineTo(x - 5, y + 2); ctx.lineTo(x + 5, y + 2); ctx.fill();
              ctx.fillStyle = "#364fc7"; ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
              ctx.fillText(m.node, x + 6, y + 7);
            });
          }
          // Ops: bars wider than a pixel are drawn as they are, batched by type; where
          // ops are narrower than a pixel, each pixel column of a lane shows the share of
          // ok / fail / info / pending ops ending there as stacked segments.
          var pad = h >= 10 ? 2 : h >= 6 ? 1 : 0, inner = h - 2 * pad;
          var cols = Math.ceil(g.W) + 1, agg = new Float32Array(cols * 4);
          var wide = [[], [], [], []];
          for (j = 0; j < lanes.rows.length; j++) {
            var rows = lanes.rows[j], vr = visibleRows(rows, g), y0 = laneTop(g, j) + pad;
            var used = false;
            for (var k = vr[0]; k < vr[1]; k++) {
              var r = rows[k];
              if (E[r] < view.a) continue;
              var x0 = g.x(S[r]), x1 = g.x(E[r]);
              if (x1 - x0 >= 1.5) { wide[O.t[r]].push(x0, y0, x1 - x0); continue; }
              var col = Math.floor((x0 + x1) / 2 - g.L);
              if (col < 0 || col >= cols) continue;
              agg[col * 4 + O.t[r]] += 1; used = true;
            }
            if (!used) continue;
            for (var c = 0; c < cols; c++) {
              var base = c * 4, total = agg[base] + agg[base + 1] + agg[base + 2] + agg[base + 3];
              if (!total) continue;
              var y = y0 + inner;
              for (var ty = 0; ty < 4; ty++) {
                var cnt = agg[base + ty];
                if (!cnt) continue;
                var hh = inner * cnt / total;
                ctx.fillStyle = TYPE_COLORS[ty]; ctx.fillRect(g.L + c, y - hh, 1, hh);
                y -= hh;
              }
              agg[base] = agg[base + 1] = agg[base + 2] = agg[base + 3] = 0;
            }
          }
          for (ty = 0; ty < 4; ty++) {
            var wl = wide[ty];
            if (!wl.length) continue;
            ctx.fillStyle = TYPE_COLORS[ty]; ctx.beginPath();
            for (k = 0; k < wl.length; k += 3) ctx.rect(wl[k], wl[k + 1], wl[k + 2], inner);
            ctx.fill();
          }
          // counterexample ops outlined
          ctx.strokeStyle = "#c92a2a"; ctx.lineWidth = 2;
          Object.keys(cxRows).forEach(function (rs) {
            var r = +rs, j = lanes.laneOf(r);
            var x0 = g.x(S[r]), x1 = g.x(E[r]);
            ctx.strokeRect(x0 - 2, laneTop(g, j) - 1, Math.max(1, x1 - x0) + 4, h + 2);
          });
        },
        axis: function (ctx, g) {
          ctx.fillStyle = "#495057"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
          ctx.fillText("nemesis", g.L - 6, g.T + NEM_H / 2 - 1);
          if (LEAD_H) ctx.fillText("leader", g.L - 6, g.T + NEM_H + LEAD_H / 2);
          var h = laneH(), every = Math.ceil(12 / h);
          for (var j = 0; j < lanes.names.length; j += every) {
            ctx.fillText((laneMode === "worker" ? "w" : "p") + lanes.names[j], g.L - 6, laneTop(g, j) + h / 2);
          }
        },
        hover: function (x, y, g) {
          if (x < g.L || x > g.L + g.W) return null;
          var t = g.t(x), tol = 3 / g.W * (view.b - view.a);
          if (y >= g.T && y < g.T + NEM_H) return nemesisTip(t, tol);
          if (LEAD_H && y >= g.T + NEM_H && y < g.T + NEM_H + LEAD_H) return leaderTip(t, 6 / g.W * (view.b - view.a));
          var j = Math.floor((y - laneTop(g, 0)) / laneH());
          if (j < 0 || j >= lanes.rows.length) return null;
          var rows = lanes.rows[j], vr = visibleRows(rows, g), best = -1, bestD = Infinity;
          for (var k = vr[0]; k < vr[1]; k++) {
            var r = rows[k];
            if (S[r] - tol <= t && E[r] + tol >= t) {
              var d = Math.abs((S[r] + E[r]) / 2 - t);
              if (d < bestD) { bestD = d; best = r; }
            }
          }
          return best < 0 ? null : opTip(best);
        }
      });
      var modeSel = document.getElementById("lane-mode");
      if (modeSel) {
        modeSel.value = laneMode;
        if (!conc) modeSel.querySelector("option[value=worker]").disabled = true;
        modeSel.addEventListener("change", function () { laneMode = modeSel.value; buildLanes(); setView(view.a, view.b); });
      }
    }

    function opTip(r) {
      var f = C.fs[O.f[r]], ty = TYPE_NAMES[O.t[r]];
      var lat = O.e[r] < 0 ? "never completed" : fmtMs((O.e[r] - O.s[r]) / 1000);
      var rows = [["op", "#" + O.i[r] + (cxRows[r] ? " (in the counterexample)" : "")],
                  ["process", "p" + O.p[r]], ["call", f + " " + O.d[r]],
                  ["outcome", "<b style='color:" + TYPE_COLORS[O.t[r]] + "'>" + ty + "</b>"],
                  ["invoked", (O.s[r] / 1e6).toFixed(6) + " s"], ["latency", lat]];
      if (O.n[r] >= 0) rows.push(["node", C.nodes[O.n[r]]]);
      if (C.errors[r] !== undefined) rows.push(["error", C.errors[r]]);
      return tipTable(rows);
    }
    function tipTable(rows) {
      return "<table>" + rows.map(function (kv) {
        return "<tr><th>" + esc(kv[0]) + "</th><td>" + (kv[0] === "outcome" ? kv[1] : esc(kv[1])) + "</td></tr>";
      }).join("") + "</table>";
    }
    function nemesisTip(t, tol) {
      var hits = C.nemesis.filter(function (o) { return Math.abs(o.s - t) <= tol * 2 || (o.s <= t && o.e >= t); });
      var wins = C.windows.filter(function (w) { return w.s <= t && w.e >= t; });
      if (!hits.length && !wins.length) return null;
      var rows = [];
      wins.forEach(function (w) { rows.push([w.family, w.f + " " + w.v + "  (" + w.s.toFixed(3) + " s – " + w.e.toFixed(3) + " s)"]); });
      hits.slice(0, 4).forEach(function (o) { rows.push([o.f, o.v + " @ " + o.s.toFixed(3) + " s (" + o.t + ")"]); });
      return tipTable(rows);
    }
    function leaderTip(t, tol) {
      var hits = C.leaders.filter(function (m) { return Math.abs(m.t - t) <= tol; });
      if (!hits.length) return null;
      return tipTable(hits.slice(0, 6).map(function (m) { return [m.node, m.text + " @ " + m.t.toFixed(3) + " s"]; }));
    }

    // ---- latency ---------------------------------------------------------------------
    var latMin = Infinity, latMax = 0;
    for (i = 0; i < n; i++) if (O.e[i] >= 0) {
      var ms = Math.max(0.001, (O.e[i] - O.s[i]) / 1000);
      latMin = Math.min(latMin, ms); latMax = Math.max(latMax, ms);
    }
    if (!isFinite(latMin)) { latMin = 0.1; latMax = 100; }
    var yLo = Math.pow(10, Math.floor(Math.log10(latMin))), yHi = Math.pow(10, Math.ceil(Math.log10(latMax)));
    if (yHi <= yLo) yHi = yLo * 10;
    var showPoints = true, showQ = {p50: true, p95: true, p99: true, max: false};
    var latency = document.getElementById("latency-canvas");
    function latY(g, ms) { return g.T + g.H - (Math.log10(Math.max(ms, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo)) * g.H; }
    if (latency) {
      makeChart(latency, {
        height: function () { return 320; },
        plot: function (ctx, g) {
          gridY(ctx, g, logTicks(), function (v) { return latY(g, v); });
          if (showPoints) {
            var lo = lowerBound(order, function (r) { return S[r]; }, view.a);
            var hi = lowerBound(order, function (r) { return S[r]; }, view.b + 1e-9);
            var dense = hi - lo > 20000, size = dense ? 1.6 : 2.4, arm = dense ? 1.5 : 2.5;
            for (var ty = 0; ty < 3; ty++) {
              for (var fk = 0; fk < C.fs.length; fk++) {
                if (hiddenF[fk]) continue;
                ctx.fillStyle = fColor[fk]; ctx.strokeStyle = fColor[fk]; ctx.lineWidth = 1;
                ctx.globalAlpha = ty === 0 ? (dense ? 0.35 : 0.55) : (dense ? 0.6 : 0.9);
                ctx.beginPath();
                for (var k = lo; k < hi; k++) {
                  var r = order[k];
                  if (O.f[r] !== fk || O.t[r] !== ty || O.e[r] < 0) continue;
                  var x = g.x(S[r]), y = latY(g, (O.e[r] - O.s[r]) / 1000);
                  if (ty === 0) ctx.rect(x - size / 2, y - size / 2, size, size);
                  else { ctx.moveTo(x - arm, y - arm); ctx.lineTo(x + arm, y + arm); ctx.moveTo(x - arm, y + arm); ctx.lineTo(x + arm, y - arm); }
                }
                if (ty === 0) ctx.fill(); else ctx.stroke();
              }
            }
            ctx.globalAlpha = 1;
          }
          C.fs.forEach(function (f, fk) {
            var q = C.latq[f];
            if (!q || hiddenF[fk]) return;
            QUANTS.forEach(function (qd) {
              if (!showQ[qd[0]]) return;
              ctx.strokeStyle = fColor[fk]; ctx.lineWidth = 1.8; ctx.setLineDash(qd[1]);
              ctx.beginPath();
              for (var k = 0; k < q.t.length; k++) {
                var x = g.x(q.t[k]), y = latY(g, q[qd[0]][k]);
                var gap = k > 0 && q.t[k] - q.t[k - 1] > 2.5 * C.latq_bucket_s;
                if (k === 0 || gap) ctx.moveTo(x, y); else ctx.lineTo(x, y);
              }
              ctx.stroke(); ctx.setLineDash([]);
            });
          });
        },
        axis: function (ctx, g) { axisY(ctx, g, logTicks(), function (v) { return latY(g, v); }, fmtTickMs, "latency"); },
        hover: function (x, y, g) {
          if (x < g.L || x > g.L + g.W || !showPoints) return null;
          var tol = 5 / g.W * (view.b - view.a), t = g.t(x);
          var lo = lowerBound(order, function (r) { return S[r]; }, t - tol);
          var hi = lowerBound(order, function (r) { return S[r]; }, t + tol);
          var best = -1, bestD = 36;
          for (var k = lo; k < hi && k < lo + 5000; k++) {
            var r = order[k];
            if (O.e[r] < 0 || hiddenF[O.f[r]]) continue;
            var dx = g.x(S[r]) - x, dy = latY(g, (O.e[r] - O.s[r]) / 1000) - y, d = dx * dx + dy * dy;
            if (d < bestD) { bestD = d; best = r; }
          }
          return best < 0 ? null : opTip(best);
        }
      });
    }
    function logTicks() {
      var ticks = [];
      for (var v = yLo; v <= yHi * 1.0001; v *= 10) ticks.push(v);
      return ticks;
    }
    function gridY(ctx, g, ticks, Y) {
      ctx.strokeStyle = "#e9ecef"; ctx.lineWidth = 1;
      ticks.forEach(function (v) { var y = Math.round(Y(v)) + 0.5; ctx.beginPath(); ctx.moveTo(g.L, y); ctx.lineTo(g.L + g.W, y); ctx.stroke(); });
    }
    function axisY(ctx, g, ticks, Y, fmt, title) {
      ctx.fillStyle = "#495057"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ticks.forEach(function (v) { ctx.fillText(fmt(v), g.L - 6, Y(v)); });
      ctx.save(); ctx.translate(12, g.T + g.H / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
      ctx.fillText(title, 0, 0); ctx.restore();
    }

    // ---- throughput ------------------------------------------------------------------
    var thr = C.throughput;
    var throughput = document.getElementById("throughput-canvas");
    function thrSeries() {
      var out = [];
      C.fs.forEach(function (f, fk) {
        var s = thr.series[f];
        if (!s || hiddenF[fk]) return;
        out.push({label: f + " ok", color: fColor[fk], dash: [], v: s.ok});
      });
      ["fail", "info"].forEach(function (ty, j) {
        var sum = thr.t.map(function () { return 0; });
        C.fs.forEach(function (f, fk) {
          var s = thr.series[f];
          if (!s || hiddenF[fk]) return;
          s[ty].forEach(function (v, k) { sum[k] += v; });
        });
        if (sum.some(function (v) { return v > 0; })) out.push({label: ty + " (all f)", color: TYPE_COLORS[j + 1], dash: [5, 3], v: sum});
      });
      return out;
    }
    if (throughput && thr) {
      var top = 1, tstep = 1;
      var thrScale = function () {
        var m = 1;
        thrSeries().forEach(function (s) { s.v.forEach(function (v, k) { if (thr.t[k] >= view.a && thr.t[k] <= view.b) m = Math.max(m, v); }); });
        tstep = niceStep(m / 4);
        top = tstep * Math.ceil(m / tstep);
      };
      var thrY = function (g, v) { return g.T + g.H - v / top * g.H; };
      var linTicks = function () { var out = []; for (var v = 0; v <= top + 1e-9; v += tstep) out.push(v); return out; };
      makeChart(throughput, {
        height: function () { return 260; },
        plot: function (ctx, g) {
          thrScale();
          gridY(ctx, g, linTicks(), function (v) { return thrY(g, v); });
          thrSeries().forEach(function (s) {
            ctx.strokeStyle = s.color; ctx.lineWidth = 1.8; ctx.setLineDash(s.dash); ctx.beginPath();
            for (var k = 0; k < thr.t.length; k++) {
              var x = g.x(thr.t[k]), y = thrY(g, s.v[k]);
              if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
            }
            ctx.stroke(); ctx.setLineDash([]);
          });
        },
        axis: function (ctx, g) {
          axisY(ctx, g, linTicks(), function (v) { return thrY(g, v); }, function (v) { return v >= 100 ? v.toFixed(0) : String(+v.toFixed(1)); }, "ops/s");
        },
        hover: function (x, y, g) {
          if (x < g.L || x > g.L + g.W) return null;
          var t = g.t(x), k = Math.min(thr.t.length - 1, Math.max(0, Math.floor(t / thr.bucket_s)));
          var rows = [["time", (k * thr.bucket_s).toFixed(3) + " – " + ((k + 1) * thr.bucket_s).toFixed(3) + " s"]];
          thrSeries().forEach(function (s) { rows.push([s.label, s.v[k].toFixed(1) + " ops/s"]); });
          return tipTable(rows);
        }
      });
    }

    // ---- legends and controls ------------------------------------------------------------
    var fLegend = document.getElementById("f-legend");
    if (fLegend) {
      C.fs.forEach(function (f, fk) {
        var lab = el("label", {"class": "chip"});
        var box = el("input", {type: "checkbox"}); box.checked = true;
        box.addEventListener("change", function () { hiddenF[fk] = !box.checked; setView(view.a, view.b); });
        var sw = el("span", {"class": "swatch", style: "background:" + fColor[fk]});
        lab.appendChild(box); lab.appendChild(sw); lab.appendChild(document.createTextNode(f));
        fLegend.appendChild(lab);
      });
    }
    var qLegend = document.getElementById("q-legend");
    if (qLegend) {
      var addToggle = function (name, on, set) {
        var lab = el("label", {"class": "chip"});
        var box = el("input", {type: "checkbox"}); box.checked = on;
        box.addEventListener("change", function () { set(box.checked); setView(view.a, view.b); });
        lab.appendChild(box); lab.appendChild(document.createTextNode(name)); qLegend.appendChild(lab);
      };
      addToggle("points", true, function (v) { showPoints = v; });
      QUANTS.forEach(function (qd) { addToggle(qd[0], showQ[qd[0]], function (v) { showQ[qd[0]] = v; }); });
    }
    document.querySelectorAll("[data-zoom-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var act = b.getAttribute("data-zoom-action");
        if (act === "in") zoom(0.5); else if (act === "out") zoom(2);
        else if (act === "left") pan(-0.25); else if (act === "right") pan(0.25);
        else setView(0, span);
      });
    });
    document.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function (ev) {
        var ab = b.getAttribute("data-zoom").split(",").map(Number);
        var pad = Math.max((ab[1] - ab[0]) * 0.15, 0.0005);
        setView(ab[0] - pad, ab[1] + pad);
        var tl = document.getElementById("timeline");
        if (tl) tl.scrollIntoView({behavior: "smooth", block: "start"});
        ev.preventDefault();
      });
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") setView(0, span);
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { setView(view.a, view.b); }, 80);
    });
    setView(0, span);
  }

  try {
    var started = performance.now();
    main();
    root.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
    root.setAttribute("data-ready", "1");
  } catch (e) {
    recordError(e && e.message ? e.message : e);
  }
})();
