// The report page (services/reporting/api/pages.py): asks for the API key once, keeps it in
// this tab's sessionStorage, fetches GET /v1/reports/monthly with it, and draws the table
// and the charts (inline SVG) in the browser. Every figure is set as text, never as HTML.
"use strict";

(() => {
  const KEY = "huiyin.reports.key";
  const SVG = "http://www.w3.org/2000/svg";
  const TREND_MONTHS = 12;
  const SERIES = [
    { code: "received", label: "登记", colour: "#2b6cb0" },
    { code: "replied_on_time", label: "按时答复", colour: "#2f855a" },
    { code: "overdue", label: "已逾期", colour: "#c53030" },
  ];
  const $ = (id) => document.getElementById(id);

  class Refused extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // --- the key ------------------------------------------------------------------------------

  function takeKeyFromFragment() {
    // `#key=…`: browsers never send the fragment; move it out of the address bar at once.
    if (!location.hash) return;
    const key = new URLSearchParams(location.hash.slice(1)).get("key");
    if (key) sessionStorage.setItem(KEY, key);
    history.replaceState(null, "", location.pathname + location.search);
  }

  const storedKey = () => sessionStorage.getItem(KEY);

  // --- months -------------------------------------------------------------------------------

  const monthIndex = (text) => {
    const [year, month] = text.split("-").map(Number);
    return year * 12 + month - 1;
  };
  const monthText = (index) =>
    `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
  const monthLabel = (text) => `${text.slice(0, 4)}年${Number(text.slice(5))}月`;
  const isMonth = (text) => /^20\d{2}-(0[1-9]|1[0-2])$/.test(text || "");

  function lastFullMonth() {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: "Asia/Shanghai",
      year: "numeric",
      month: "2-digit",
    }).formatToParts(new Date());
    const part = (type) => Number(parts.find((p) => p.type === type).value);
    return monthText(part("year") * 12 + part("month") - 2);
  }

  function chosenRange() {
    const query = new URLSearchParams(location.search);
    let to = query.get("to");
    let from = query.get("from");
    if (!isMonth(to)) to = isMonth(from) ? from : lastFullMonth();
    if (!isMonth(from)) from = to;
    return { from, to, hospital: (query.get("hospital_id") || "").trim() };
  }

  function showRange(range) {
    const query = new URLSearchParams({ from: range.from, to: range.to });
    if (range.hospital) query.set("hospital_id", range.hospital);
    history.replaceState(null, "", `${location.pathname}?${query}`);
  }

  // --- the API ------------------------------------------------------------------------------

  async function api(range, extra = {}) {
    const query = new URLSearchParams({ from: range.from, to: range.to, ...extra });
    if (range.hospital) query.set("hospital_id", range.hospital);
    const response = await fetch(`/v1/reports/monthly?${query}`, {
      headers: { Authorization: `Bearer ${storedKey()}` },
      cache: "no-store",
    });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        message = (await response.json()).message || message;
      } catch (_) {
        /* not the platform's error body */
      }
      throw new Refused(response.status, message);
    }
    return extra.format ? response : response.json();
  }

  // --- drawing ------------------------------------------------------------------------------

  function element(name, attributes = {}, text) {
    const made = document.createElement(name);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    if (text !== undefined) made.textContent = String(text);
    return made;
  }

  function svgElement(name, attributes = {}, text) {
    const made = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    if (text !== undefined) made.textContent = String(text);
    return made;
  }

  function cells(row, values, codes, kind) {
    for (const code of codes) {
      const n = values[code] || 0;
      row.append(element(kind, { "data-code": code, class: n ? "n" : "n zero" }, n));
    }
  }

  function drawTable(table) {
    const codes = table.columns.map((c) => c.code);
    const unitHeader = table.unit === "hospital" ? "医院" : "科室";
    const node = $("classification");
    node.replaceChildren();
    const head = element("thead");
    const header = element("tr");
    header.append(element("th", { scope: "col" }, "类别"), element("th", { scope: "col" }, unitHeader));
    for (const column of table.columns) {
      header.append(element("th", { scope: "col", "data-code": column.code }, column.label));
    }
    head.append(header);
    const body = element("tbody");
    for (const category of table.categories) {
      const rows = table.rows.filter((r) => r.category === category.category);
      rows.forEach((row, n) => {
        const line = element("tr", {
          class: "row",
          "data-category": row.category,
          "data-unit": row.unit,
        });
        line.append(
          element("th", { scope: "row", class: n ? "repeat" : "" }, row.category_label),
          element("td", { class: "unit" }, row.unit_label),
        );
        cells(line, row.counts, codes, "td");
        body.append(line);
      });
      const subtotal = element("tr", { class: "subtotal", "data-category": category.category });
      subtotal.append(element("th", { scope: "row" }, category.category_label), element("td", {}, "小计"));
      cells(subtotal, category.counts, codes, "td");
      body.append(subtotal);
    }
    if (!table.rows.length) {
      const none = element("tr");
      none.append(element("td", { colspan: String(codes.length + 2), class: "none" }, "统计范围内无投诉"));
      body.append(none);
    }
    const foot = element("tfoot");
    const total = element("tr", { class: "total" });
    total.append(element("th", { scope: "row" }, "合计"), element("td"));
    cells(total, table.total, codes, "td");
    foot.append(total);
    node.append(head, body, foot);
  }

  // A whole step of 1, 2 or 5 × 10^n and the top of an axis of `ticks` such steps.
  function axis(value, ticks) {
    const raw = Math.max(value, 1) / ticks;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw));
    return { step, top: step * Math.max(1, Math.ceil(value / step)) };
  }

  function drawTrend(months, tables) {
    const width = 760;
    const height = 280;
    const left = 44;
    const right = 30;
    const top = 36;
    const bottom = 40;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const values = SERIES.map((s) => tables.map((t) => t.total[s.code] || 0));
    const { step, top: max } = axis(Math.max(...values.flat()), 4);
    const x = (i) => left + (months.length === 1 ? plotW / 2 : (i * plotW) / (months.length - 1));
    const y = (v) => top + plotH - (v / max) * plotH;
    const svg = svgElement("svg", {
      id: "trend-chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "近12个月投诉趋势",
    });
    svg.append(svgElement("title", {}, "近12个月投诉趋势：登记、按时答复、已逾期"));
    for (let v = 0; v <= max; v += step) {
      svg.append(
        svgElement("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }),
        svgElement("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, v),
      );
    }
    months.forEach((month, i) => {
      svg.append(
        svgElement("text", { x: x(i), y: height - bottom + 18, "text-anchor": "middle", class: "axis" },
          `${month.slice(2, 4)}年${Number(month.slice(5))}月`),
      );
    });
    SERIES.forEach((series, s) => {
      const points = values[s].map((v, i) => `${x(i)},${y(v)}`).join(" ");
      const group = svgElement("g", { "data-series": series.code });
      group.append(svgElement("polyline", { points, fill: "none", stroke: series.colour, "stroke-width": 2.5 }));
      values[s].forEach((v, i) => {
        const dot = svgElement("circle", {
          cx: x(i), cy: y(v), r: 3.5, fill: series.colour,
          "data-month": months[i], "data-value": v,
        });
        dot.append(svgElement("title", {}, `${monthLabel(months[i])} ${series.label} ${v}`));
        group.append(dot);
      });
      svg.append(group);
      const legendX = left + s * 120;
      svg.append(
        svgElement("rect", { x: legendX, y: 10, width: 14, height: 10, fill: series.colour }),
        svgElement("text", { x: legendX + 20, y: 19, class: "legend" }, series.label),
      );
    });
    $("trend").replaceChildren(svg);
  }

  function drawCategories(table) {
    const bars = table.categories
      .map((c) => ({ label: c.category_label, value: c.counts.received || 0, code: c.category }))
      .sort((a, b) => b.value - a.value);
    const width = 480;
    const rowH = 26;
    const left = 120;
    const height = Math.max(1, bars.length) * rowH + 16;
    const max = axis(Math.max(0, ...bars.map((b) => b.value)), 4).top;
    const svg = svgElement("svg", {
      id: "category-chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "各类别登记数",
    });
    svg.append(svgElement("title", {}, "各类别登记数"));
    if (!bars.length) {
      svg.append(svgElement("text", { x: 8, y: 22, class: "axis" }, "统计范围内无投诉"));
    }
    bars.forEach((bar, i) => {
      const yTop = 8 + i * rowH;
      const w = ((width - left - 48) * bar.value) / max;
      const group = svgElement("g", { "data-category": bar.code, "data-value": bar.value });
      group.append(
        svgElement("text", { x: left - 8, y: yTop + 15, "text-anchor": "end", class: "label" }, bar.label),
        svgElement("rect", { x: left, y: yTop, width: Math.max(w, 1), height: rowH - 8, fill: "#2b6cb0" }),
        svgElement("text", { x: left + w + 6, y: yTop + 15, class: "value" }, bar.value),
      );
      svg.append(group);
    });
    $("by-category").replaceChildren(svg);
  }

  // --- the page -----------------------------------------------------------------------------

  function say(state, message) {
    document.body.dataset.state = state;
    $("message").textContent = message || "";
  }

  function askForKey(message) {
    sessionStorage.removeItem(KEY);
    $("range-form").hidden = true;
    $("report").hidden = true;
    $("key-form").hidden = false;
    say(message ? "unauthorized" : "key", message || "请输入 API 密钥（卫健委或本院的密钥）。");
    $("key").focus();
  }

  async function load() {
    if (!storedKey()) return askForKey();
    const range = chosenRange();
    $("key-form").hidden = true;
    $("range-form").hidden = false;
    $("from").value = range.from;
    $("to").value = range.to;
    $("hospital").value = range.hospital;
    say("loading", "正在读取……");
    const last = monthIndex(range.to);
    const months = Array.from({ length: TREND_MONTHS }, (_, i) => monthText(last - TREND_MONTHS + 1 + i));
    try {
      const [table, ...trend] = await Promise.all([
        api(range),
        ...months.map((m) => api({ from: m, to: m, hospital: range.hospital })),
      ]);
      const bureau = table.unit === "hospital" || Boolean(range.hospital);
      $("hospital-field").hidden = !bureau;
      const scope = table.hospital_id ? `医院 ${table.hospital_id}（按科室）` : "全区各医院（按医院）";
      const span = table.from === table.to ? monthLabel(table.from) : `${monthLabel(table.from)} 至 ${monthLabel(table.to)}`;
      const printed = new Date().toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
      $("subtitle").textContent = `统计范围：${span}　·　${scope}　·　登记 ${table.total.received || 0} 件　·　生成于 ${printed}（北京时间）`;
      drawTable(table);
      drawTrend(months, trend);
      drawCategories(table);
      $("report").hidden = false;
      showRange(range);
      say("ready", "");
    } catch (error) {
      $("report").hidden = true;
      if (error instanceof Refused && error.status === 401) return askForKey("密钥无效，请重新输入。");
      if (error instanceof Refused && error.status === 403) return say("forbidden", `无权查看：${error.message}`);
      say("error", `读取失败：${error.message}`);
    }
  }

  async function download(format) {
    const range = chosenRange();
    try {
      const response = await api(range, { format });
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || `report.${format}`;
      const link = element("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      say("error", `下载失败：${error.message}`);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeKeyFromFragment();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      load();
    });
    $("range-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const from = $("from").value;
      const to = $("to").value;
      if (!isMonth(from) || !isMonth(to)) return say("error", "请选择起始月和截止月。");
      if (monthIndex(to) < monthIndex(from)) return say("error", "截止月早于起始月。");
      showRange({ from, to, hospital: $("hospital").value.trim() });
      load();
    });
    $("print").addEventListener("click", () => window.print());
    $("csv").addEventListener("click", () => download("csv"));
    $("xlsx").addEventListener("click", () => download("xlsx"));
    $("forget").addEventListener("click", () => askForKey());
    load();
  });
})();
