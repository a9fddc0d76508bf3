// Draws the page's charts with BokehJS (served by this site, no CDN) from the JSON blocks
// the page embeds: <div class="chart" data-chart="KIND" data-source="ID" ...> reads
// <script type="application/json" id="ID">. Sets data-drawn="true" on a chart once drawn.
"use strict";
(function () {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
    "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  const plt = Bokeh.Plotting;

  function read(el) {
    const block = document.getElementById(el.dataset.source);
    return block ? JSON.parse(block.textContent) : [];
  }
  function dayMs(day) { return Date.parse(day + "T00:00:00Z"); }
  function figure(el, extra) {
    return plt.figure(Object.assign({
      height: el.classList.contains("tall") ? 460 : 260, sizing_mode: "stretch_width",
      tools: "pan,wheel_zoom,box_zoom,reset,save", toolbar_location: "right",
      background_fill_color: "#fafafa",
    }, extra));
  }
  function hover(p, tooltips) { p.add_tools(new Bokeh.HoverTool({ tooltips: tooltips })); }
  // a count a visitor may not see exactly arrives as "fewer than N": no bar, no point
  function hidden(v) { return v === null || (typeof v === "string" && v.startsWith("fewer than")); }
  function col(rows, key) { return rows.map((r) => (hidden(r[key]) ? NaN : r[key])); }

  const draw = {
    line(el, rows) {
      const d = el.dataset;
      const source = new Bokeh.ColumnDataSource({ data: {
        x: rows.map((r) => dayMs(r[d.x])), y: col(rows, d.y), day: col(rows, d.x) } });
      const p = figure(el, { x_axis_type: "datetime" });
      p.line({ x: { field: "x" }, y: { field: "y" }, source: source, line_width: 2 });
      p.scatter({ x: { field: "x" }, y: { field: "y" }, source: source, size: 6 });
      hover(p, [["day", "@day"], [d.label, "@y{0,0}"]]);
      return p;
    },
    vbar(el, rows) {
      const d = el.dataset;
      const days = rows.map((r) => String(r[d.x]));
      const data = { x: days, y: col(rows, d.y) };
      const p = figure(el, { x_range: days.length ? days : ["–"] });
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.7, source: new Bokeh.ColumnDataSource({ data: data }),
        fill_color: PALETTE[0], line_color: null });
      p.xaxis.major_label_orientation = days.length > 8 ? 0.9 : 0;
      hover(p, [[d.x, "@x"], [d.label, "@y{0,0}"]]);
      return p;
    },
    stack(el, rows) {
      const d = el.dataset;
      const days = rows.map((r) => String(r[d.x]));
      const a = col(rows, d.y), b = col(rows, d.y2);
      const source = new Bokeh.ColumnDataSource({ data: {
        x: days, a: a, b: b, top_a: a, top_b: a.map((v, i) => v + b[i]) } });
      const colors = d.colors ? d.colors.split(" ") : [PALETTE[2], PALETTE[0]];
      const p = figure(el, { x_range: days.length ? days : ["–"] });
      p.vbar({ x: { field: "x" }, bottom: 0, top: { field: "top_a" }, width: 0.7, source: source,
        fill_color: colors[0], line_color: null, legend_label: d.label });
      p.vbar({ x: { field: "x" }, bottom: { field: "top_a" }, top: { field: "top_b" }, width: 0.7,
        source: source, fill_color: colors[1], line_color: null, legend_label: d.label2 });
      p.legend.location = "top_left";
      p.xaxis.major_label_orientation = days.length > 8 ? 0.9 : 0;
      hover(p, [["day", "@x"], [d.label, "@a{0,0}"], [d.label2, "@b{0,0}"]]);
      return p;
    },
    hbar(el, rows) {
      const d = el.dataset;
      const names = rows.map((r) => String(r[d.y]));
      const p = figure(el, { y_range: names.length ? names.slice().reverse() : ["–"],
        height: Math.max(200, 22 * names.length + 60) });
      p.hbar({ y: { field: "y" }, right: { field: "x" }, height: 0.7, fill_color: PALETTE[0],
        line_color: null, source: new Bokeh.ColumnDataSource({ data: { y: names, x: col(rows, d.x) } }) });
      hover(p, [["", "@y"], [d.label, "@x{0,0}"]]);
      return p;
    },
    hours(el, values) {
      const hours = values.map((_, i) => i);
      const p = figure(el, {});
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.8, fill_color: PALETTE[4], line_color: null,
        source: new Bokeh.ColumnDataSource({ data: { x: hours, y: values } }) });
      hover(p, [["hour (UTC)", "@x"], [el.dataset.label, "@y{0,0}"]]);
      return p;
    },
    pairs(el, pairs) {
      const names = pairs.map((x) => String(x[0]));
      const p = figure(el, { x_range: names.length ? names : ["–"] });
      p.vbar({ x: { field: "x" }, top: { field: "y" }, width: 0.6, line_color: null,
        fill_color: { field: "color" }, source: new Bokeh.ColumnDataSource({ data: {
          x: names, y: pairs.map((x) => x[1]), color: names.map((_, i) => PALETTE[i % 20]) } }) });
      hover(p, [["", "@x"], [el.dataset.label, "@y{0,0}"]]);
      return p;
    },
    timeline(el, sessions) {
      const names = Array.from(new Set(sessions.map((s) => s.streamer))).sort();
      const p = figure(el, { x_axis_type: "datetime", y_range: names.length ? names : ["–"],
        height: Math.max(200, 26 * names.length + 80) });
      const source = new Bokeh.ColumnDataSource({ data: {
        y: sessions.map((s) => s.streamer),
        left: sessions.map((s) => s.start * 1000),
        right: sessions.map((s) => Math.max(s.end, s.start + 300) * 1000),
        color: sessions.map((s) => PALETTE[names.indexOf(s.streamer) % 20]) } });
      p.hbar({ y: { field: "y" }, left: { field: "left" }, right: { field: "right" }, height: 0.6,
        fill_color: { field: "color" }, line_color: null, source: source });
      hover(p, [["streamer", "@y"], ["from", "@left{%F %H:%M}"], ["to", "@right{%F %H:%M}"]]);
      p.toolbar.tools.at(-1).formatters = { "@left": "datetime", "@right": "datetime" };
      return p;
    },
    network(el, graph) {
      const p = figure(el, { match_aspect: true });
      p.xaxis.visible = false; p.yaxis.visible = false;
      p.xgrid.visible = false; p.ygrid.visible = false;
      const e = graph.edges;
      p.segment({ x0: { field: "x0" }, y0: { field: "y0" }, x1: { field: "x1" }, y1: { field: "y1" },
        line_alpha: { field: "alpha" }, line_color: "#888", line_width: 1,
        source: new Bokeh.ColumnDataSource({ data: { x0: col(e, "x0"), y0: col(e, "y0"),
          x1: col(e, "x1"), y1: col(e, "y1"),
          alpha: e.map((x) => (typeof x.jaccard === "number" ? Math.min(0.9, 0.1 + 3 * x.jaccard) : 0.1)) } }) });
      const n = graph.nodes;
      const audience = (x) => (typeof x.audience === "number" ? x.audience : 1);
      const big = Math.max(1, ...n.map(audience));
      const nodes = new Bokeh.ColumnDataSource({ data: { x: col(n, "x"), y: col(n, "y"),
        name: col(n, "streamer"), audience: col(n, "audience"), community: col(n, "community"),
        size: n.map((x) => 8 + 22 * Math.sqrt(audience(x) / big)),
        color: n.map((x) => (x.community < 0 ? "#bbbbbb" : PALETTE[x.community % 20])) } });
      p.scatter({ x: { field: "x" }, y: { field: "y" }, size: { field: "size" }, source: nodes,
        fill_color: { field: "color" }, line_color: "#333", fill_alpha: 0.9 });
      p.text({ x: { field: "x" }, y: { field: "y" }, text: { field: "name" }, source: nodes,
        text_font_size: "9px", x_offset: 6, y_offset: -6 });
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
