// Draws the page's charts with BokehJS (served by this site, no CDN) from the JSON blocks
// the page embeds: <div class="chart" data-chart="KIND" data-source="ID" ...> reads
// <script type="application/json" id="ID">. Sets data-drawn="true" on a chart once drawn.
// Every chart: axis titles, thousands separators (human units past 10,000: 12.3k, 1.2m),
// counts from zero, days as categories, legends below the plot, the Okabe-Ito palette
// (safe for colour-blind readers; Paul Tol's muted colours after it) and a dark theme when
// the browser prefers one.
"use strict";
(function () {
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
    "#F0E442", "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
    "#882255", "#AA4499"];
  const DARK = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  const INK = DARK ? "#e6e6e6" : "#222222";
  const GRID = DARK ? "#3a3a3a" : "#e5e5e5";
  const plt = Bokeh.Plotting;

  function read(el, id) {
    const block = document.getElementById(id || el.dataset.source);
    return block ? JSON.parse(block.textContent) : [];
  }
  // a count a visitor may not see exactly arrives as "fewer than N": no bar, no point
  function hidden(v) { return v === null || (typeof v === "string" && v.startsWith("fewer than")); }
  function col(rows, key) { return rows.map((r) => (hidden(r[key]) ? NaN : r[key])); }
  function numbers(values) { return values.filter((v) => typeof v === "number" && !isNaN(v)); }

  function figure(el, extra) {
    const p = plt.figure(Object.assign({
      height: el.classList.contains("tall") ? 460 : 280, sizing_mode: "stretch_width",
      tools: "pan,wheel_zoom,box_zoom,reset,save", toolbar_location: "right",
      background_fill_color: DARK ? "#1e1e1e" : "#fafafa",
      border_fill_color: DARK ? "#121212" : "#ffffff",
      outline_line_color: GRID,
    }, extra));
    for (const axis of [p.xaxis, p.yaxis]) {
      axis.axis_label_text_color = INK; axis.major_label_text_color = INK;
      axis.axis_line_color = INK; axis.major_tick_line_color = INK;
      axis.minor_tick_line_color = INK;
      axis.axis_label_text_font_style = "normal";
    }
    p.xgrid.grid_line_color = GRID; p.ygrid.grid_line_color = GRID;
    return p;
  }
  // axis titles, and the value axis formatted: thousands separators, human units past
  // 10,000, bytes as KB/MB/GB; a count axis starts at zero
  function titles(p, x, y) { p.xaxis.axis_label = x; p.yaxis.axis_label = y; }
  function formatted(axis, values, kind) {
    const top = Math.max(0, ...numbers(values));
    const format = kind === "bytes" ? "0.0 b" : top >= 10000 ? "0.[0]a" : "0,0.[00]";
    axis.formatter = new Bokeh.NumeralTickFormatter({ format: format });
  }
  // counts start at zero: a range made with start 0 (set on the figure's own range after
  // it is made, BokehJS keeps computing the start from the data)
  function zeroRange() { return new Bokeh.DataRange1d({ start: 0 }); }
  function slanted(p, days) { p.xaxis.major_label_orientation = days.length > 8 ? 0.9 : 0; }
  function hover(p, tooltips, extra) {
    p.add_tools(new Bokeh.HoverTool(Object.assign({ tooltips: tooltips }, extra || {})));
  }
  function legendBelow(p, items, orientation) {
    const legend = new Bokeh.Legend({
      items: items.map(([label, r]) => new Bokeh.LegendItem({ label: { value: label }, renderers: [r] })),
      orientation: orientation || "horizontal", label_text_color: INK,
      background_fill_alpha: 0, border_line_alpha: 0 });
    p.add_layout(legend, "below");
  }

  const draw = {
    // one series a day, on a day axis (categories: a day is not a time of day)
    line(el, rows) {
      const d = el.dataset;
      const days = rows.map((r) => String(r[d.x]));
      const y = col(rows, d.y);
      const source = new Bokeh.ColumnDataSource({ data: { x: days, y: y } });
      const p = figure(el, { x_range: days.length ? days : ["–"], y_range: zeroRange() });
      p.line({ x: { field: "x" }, y: { field: "y" }, source: source, line_width: 2, line_color: PALETTE[0] });
      p.scatter({ x: { field: "x" }, y: { field: "y" }, source: source, size: 7, fill_color: PALETTE[0], line_color: PALETTE[0] });
      titles(p, "day", d.label); formatted(p.yaxis, y, d.format); slanted(p, days);
      hover(p, [["day", "@x"], [d.label, "@y{0,0}"]]);
      return p;
    },
    vbar(el, rows) {
      const d = el.dataset;
      const days = rows.map((r) => String(r[d.x]));
      const y = col(rows, d.y);
      const p = figure(el, { x_range: days.length ? days : ["–"], y_range: zeroRange() });
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.7,
        source: new Bokeh.ColumnDataSource({ data: { x: days, y: y } }),
        fill_color: PALETTE[0], line_color: null });
      titles(p, d.xlabel || d.x, d.label); formatted(p.yaxis, y, d.format); slanted(p, days);
      hover(p, [[d.xlabel || d.x, "@x"], [d.label, d.format === "bytes" ? "@y{0.0 b}" : "@y{0,0}"]]);
      return p;
    },
    stack(el, rows) {
      const d = el.dataset;
      const days = rows.map((r) => String(r[d.x]));
      const a = col(rows, d.y), b = col(rows, d.y2);
      const source = new Bokeh.ColumnDataSource({ data: {
        x: days, a: a, b: b, top_a: a, top_b: a.map((v, i) => v + b[i]) } });
      const colors = [PALETTE[0], PALETTE[1]];
      const p = figure(el, { x_range: days.length ? days : ["–"], y_range: zeroRange() });
      const ra = p.vbar({ x: { field: "x" }, bottom: 0, top: { field: "top_a" }, width: 0.7, source: source,
        fill_color: colors[0], line_color: null });
      const rb = p.vbar({ x: { field: "x" }, bottom: { field: "top_a" }, top: { field: "top_b" }, width: 0.7,
        source: source, fill_color: colors[1], line_color: null });
      legendBelow(p, [[d.label, ra], [d.label2, rb]]);
      titles(p, "day", d.ylabel || d.label); formatted(p.yaxis, a.map((v, i) => v + b[i]));
      slanted(p, days);
      hover(p, [["day", "@x"], [d.label, "@a{0,0}"], [d.label2, "@b{0,0}"]]);
      return p;
    },
    hbar(el, rows) {
      const d = el.dataset;
      const names = rows.map((r) => String(r[d.y]));
      const x = col(rows, d.x);
      const p = figure(el, { y_range: names.length ? names.slice().reverse() : ["–"],
        x_range: zeroRange(), height: Math.max(200, 22 * names.length + 80) });
      p.hbar({ y: { field: "y" }, right: { field: "x" }, height: 0.7, fill_color: PALETTE[0],
        line_color: null, source: new Bokeh.ColumnDataSource({ data: { y: names, x: x } }) });
      titles(p, d.label, ""); formatted(p.xaxis, x); hover(p, [["", "@y"], [d.label, "@x{0,0}"]]);
      return p;
    },
    hours(el, values) {
      const hours = values.map((_, i) => String(i).padStart(2, "0") + "h");
      const p = figure(el, { x_range: hours.length ? hours : ["–"], y_range: zeroRange() });
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.8, fill_color: PALETTE[4], line_color: null,
        source: new Bokeh.ColumnDataSource({ data: { x: hours, y: values } }) });
      titles(p, "hour of day (UTC)", el.dataset.label); formatted(p.yaxis, values); p.xaxis.major_label_orientation = 0.9;
      hover(p, [["hour (UTC)", "@x"], [el.dataset.label, "@y{0,0}"]]);
      return p;
    },
    pairs(el, pairs) {
      const names = pairs.map((x) => String(x[0]));
      const y = pairs.map((x) => (hidden(x[1]) ? NaN : x[1]));
      const p = figure(el, { x_range: names.length ? names : ["–"], y_range: zeroRange() });
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.6, line_color: null,
        fill_color: { field: "color" }, source: new Bokeh.ColumnDataSource({ data: {
          x: names, y: y, color: names.map((_, i) => PALETTE[i % PALETTE.length]) } }) });
      titles(p, "", el.dataset.label); formatted(p.yaxis, y); hover(p, [["", "@x"], [el.dataset.label, "@y{0,0}"]]);
      return p;
    },
    timeline(el, sessions) {
      const names = Array.from(new Set(sessions.map((s) => s.streamer))).sort();
      const p = figure(el, { x_axis_type: "datetime", y_range: names.length ? names : ["–"],
        height: Math.max(200, 26 * names.length + 90) });
      const source = new Bokeh.ColumnDataSource({ data: {
        y: sessions.map((s) => s.streamer),
        left: sessions.map((s) => s.start * 1000),
        right: sessions.map((s) => Math.max(s.end, s.start + 300) * 1000),
        color: sessions.map((s) => PALETTE[names.indexOf(s.streamer) % PALETTE.length]) } });
      p.hbar({ y: { field: "y" }, left: { field: "left" }, right: { field: "right" }, height: 0.6,
        fill_color: { field: "color" }, line_color: null, source: source });
      titles(p, "time (UTC)", "");
      hover(p, [["streamer", "@y"], ["from", "@left{%F %H:%M}"], ["to", "@right{%F %H:%M}"]],
        { formatters: { "@left": "datetime", "@right": "datetime" } });
      return p;
    },
    // a broadcast every 5 minutes: Twitch's count and the logged-in chatters, game changes
    curve(el, points) {
      const games = read(el, el.dataset.games);
      const source = new Bokeh.ColumnDataSource({ data: {
        x: points.map((q) => q.ts * 1000), twitch: col(points, "twitch"),
        chatters: col(points, "chatters") } });
      const p = figure(el, { x_axis_type: "datetime", y_range: zeroRange() });
      const r1 = p.line({ x: { field: "x" }, y: { field: "twitch" }, source: source, line_width: 2,
        line_color: PALETTE[0] });
      const r2 = p.line({ x: { field: "x" }, y: { field: "chatters" }, source: source, line_width: 2,
        line_color: PALETTE[1], line_dash: "dashed" });
      for (const g of games.slice(1)) {
        p.add_layout(new Bokeh.Span({ location: g.ts * 1000, dimension: "height",
          line_color: INK, line_dash: "dotted", line_width: 1 }));
      }
      for (const g of games) {
        p.add_layout(new Bokeh.Label({ x: g.ts * 1000, y: 4, y_units: "screen", text: g.game,
          text_font_size: "11px", text_color: INK, x_offset: 3, angle: Math.PI / 2 }));
      }
      legendBelow(p, [["Twitch viewer count", r1], ["logged-in chatters", r2]]);
      titles(p, "time (UTC)", "viewers");
      formatted(p.yaxis, col(points, "twitch").concat(col(points, "chatters"))); hover(p, [["time", "@x{%H:%M}"], ["Twitch", "@twitch{0,0}"], ["chatters", "@chatters{0,0}"]],
        { formatters: { "@x": "datetime" }, mode: "vline" });
      return p;
    },
    // stream health: each rated broadcast's share of chatters against its viewer count
    scatter(el, points) {
      const source = new Bokeh.ColumnDataSource({ data: {
        x: col(points, "avg_viewer_count"), y: points.map((q) => 100 * q.share),
        name: points.map((q) => q.streamer + " " + q.started_at),
        color: points.map((q) => (q.suspect ? PALETTE[3] : PALETTE[0])),
        kind: points.map((q) => (q.suspect ? "suspect" : "normal")) } });
      const p = figure(el, { x_axis_type: "log", y_range: zeroRange() });
      const normal = new Bokeh.CDSView({ filter: new Bokeh.BooleanFilter({ booleans: points.map((q) => !q.suspect) }) });
      const suspect = new Bokeh.CDSView({ filter: new Bokeh.BooleanFilter({ booleans: points.map((q) => q.suspect) }) });
      const r1 = p.scatter({ x: { field: "x" }, y: { field: "y" }, source: source, view: normal, size: 7,
        fill_color: PALETTE[0], line_color: null, fill_alpha: 0.7 });
      const r2 = p.scatter({ x: { field: "x" }, y: { field: "y" }, source: source, view: suspect, size: 9,
        marker: "triangle", fill_color: PALETTE[3], line_color: null });
      legendBelow(p, [["normal", r1], ["suspect", r2]]);
      titles(p, "average Twitch viewer count (log scale)", "logged-in chatters, % of the count");
      p.xaxis.formatter = new Bokeh.NumeralTickFormatter({ format: "0,0" });
      hover(p, [["broadcast", "@name"], ["viewers", "@x{0,0}"], ["chatters' share", "@y{0.0} %"]]);
      return p;
    },
    network(el, graph) {
      const p = figure(el, { match_aspect: true });
      p.xaxis.visible = false; p.yaxis.visible = false;
      p.xgrid.visible = false; p.ygrid.visible = false;
      const e = graph.edges;
      p.segment({ x0: { field: "x0" }, y0: { field: "y0" }, x1: { field: "x1" }, y1: { field: "y1" },
        line_alpha: { field: "alpha" }, line_color: DARK ? "#999" : "#888", line_width: 1,
        source: new Bokeh.ColumnDataSource({ data: { x0: col(e, "x0"), y0: col(e, "y0"),
          x1: col(e, "x1"), y1: col(e, "y1"),
          alpha: e.map((x) => (typeof x.jaccard === "number" ? Math.min(0.9, 0.1 + 3 * x.jaccard) : 0.1)) } }) });
      const n = graph.nodes;
      const audience = (x) => (typeof x.audience === "number" ? x.audience : 1);
      const big = Math.max(1, ...n.map(audience));
      const nodes = new Bokeh.ColumnDataSource({ data: { x: col(n, "x"), y: col(n, "y"),
        name: col(n, "streamer"), audience: col(n, "audience"),
        community: n.map((x) => x.community_name || "no community"),
        size: n.map((x) => 8 + 22 * Math.sqrt(audience(x) / big)),
        color: n.map((x) => (x.community < 0 ? "#bbbbbb" : PALETTE[x.community % PALETTE.length])) } });
      // one renderer per community (the biggest first), so the legend names each colour
      const order = Array.from(new Set(n.map((x) => x.community)));
      const items = order.map((k) => {
        const view = new Bokeh.CDSView({ filter: new Bokeh.BooleanFilter({
          booleans: n.map((x) => x.community === k) }) });
        const r = p.scatter({ x: { field: "x" }, y: { field: "y" }, size: { field: "size" },
          source: nodes, view: view, fill_color: { field: "color" }, line_color: INK,
          fill_alpha: 0.9 });
        const named = n.find((x) => x.community === k);
        return [named && named.community_name ? named.community_name : "no community", r];
      });
      if (items.length) { legendBelow(p, items.slice(0, 16), "vertical"); }
      p.text({ x: { field: "x" }, y: { field: "y" }, text: { field: "name" }, source: nodes,
        text_font_size: "12px", text_color: INK, x_offset: 7, y_offset: -7 });
      hover(p, [["streamer", "@name"], ["audience", "@audience{0,0}"], ["community", "@community"]]);
      return p;
    },
  };

  async function drawAll() {
    for (const el of document.querySelectorAll(".chart[data-chart]")) {
      const kind = el.dataset.chart;
      if (!draw[kind]) { console.error("unknown chart kind " + kind); continue; }
      try {
        await plt.show(draw[kind](el, read(el)), el);
        el.dataset.drawn = "true";
      } catch (err) {
        el.dataset.drawn = "error";
        console.error("chart " + kind + " failed: " + err);
      }
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
