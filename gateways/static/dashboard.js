/* 一盘棋看板: reads /nodes/{code}/views/rollup and /nodes/{code}/sync/status with the office's token and draws
   them with the locally served Apache ECharts. Drill-down: click a region in any regional chart or in the ranking,
   or pick it in the drill-down box (every child region, in code order). */
(function () {
  "use strict";
  const code = (location.pathname.match(/\/nodes\/([0-9]{6,9})\/dashboard/) || [])[1];
  const RED = "#b71c1c", GOLD = "#d4a017", GREY = "#9e9e9e", GREEN = "#2e7d32", BLUE = "#1565c0";
  const state = { node: code, region: null, crumbs: [], year: "", asOf: "", by: "recorded", target: null, rankPage: 0, loads: 0, errors: 0 };
  // A region's children can be many (a county has dozens of townships, the province 1,947 of them two levels down):
  // charts show the most telling MAX_BARS, the ranking a page at a time, and the drill-down box all of them.
  const MAX_BARS = 15, RANK_PAGE = 10;
  const charts = {};
  const STATES = ["following", "behind", "stalled", "gap", "parked", "diverged", "silent", "failed", "unknown"];
  const STATE_COLOURS = { following: GREEN, behind: GOLD, stalled: "#e65100", gap: "#ef6c00", parked: RED, diverged: "#6a1b9a", silent: "#5d4037", failed: "#b71c1c", unknown: GREY };
  const $ = (id) => document.getElementById(id);
  const pct = (r) => (r === null || r === undefined ? "—" : (r * 100).toFixed(1) + "%");
  const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // ------------------------------------------------------------------------------------------------ token
  // The token is kept for this tab's session only (sessionStorage): closing the tab or the browser forgets it.
  const tokenKey = "yipanqi.token." + code;
  (function takeTokenFromHash() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      sessionStorage.setItem(tokenKey, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  })();
  (function forgetStoredTokens() {  // an earlier version kept tokens in localStorage, beyond the session
    try {
      Object.keys(localStorage).filter((k) => k.startsWith("yipanqi.token.")).forEach((k) => localStorage.removeItem(k));
    } catch (e) { /* storage unavailable */ }
  })();
  const token = () => sessionStorage.getItem(tokenKey);

  function askToken(message) {
    $("login").hidden = false;
    $("board").hidden = true;
    setStatus(message || "需要访问令牌", true);
  }
  $("token-save").onclick = () => {
    const t = $("token-input").value.trim();
    if (!t) return;
    sessionStorage.setItem(tokenKey, t);
    $("token-input").value = "";
    $("login").hidden = true;
    load();
  };
  $("logout").onclick = () => { sessionStorage.removeItem(tokenKey); askToken("请输入新的令牌"); };
  $("controls").addEventListener("submit", (e) => e.preventDefault());  // no inline handler: the CSP allows none

  function setStatus(text, error) {
    const el = $("status");
    el.textContent = text;
    el.className = error ? "error" : "";
  }

  async function get(path, params) {
    const q = new URLSearchParams();
    Object.entries(params || {}).forEach(([k, v]) => { if (v !== null && v !== undefined && v !== "") q.set(k, v); });
    const url = path + (q.toString() ? "?" + q : "");
    const r = await fetch(url, { headers: { Authorization: "Bearer " + token() } });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && body.rule) || ("HTTP " + r.status));
      err.status = r.status;
      throw err;
    }
    return body;
  }

  // --------------------------------------------------------------------------------------------- loading
  async function load() {
    if (!code) { setStatus("地址应为 /nodes/{区划代码}/dashboard", true); return; }
    if (!token()) { askToken(); return; }
    setStatus("加载中…");
    const params = { region: state.region, year: state.year, as_of: state.asOf, by: state.asOf ? state.by : null };
    try {
      const [rollup, sync] = await Promise.all([
        get(`/nodes/${code}/views/rollup`, params),
        state.region && state.region !== code ? Promise.resolve(null) : get(`/nodes/${code}/sync/status`).catch(() => null),
      ]);
      render(rollup, sync);
      state.loads += 1;
      const sc = rollup.scope;
      setStatus(`${sc.region_name} · ${sc.period} · ${sc.as_of_label}`);
    } catch (e) {
      state.errors += 1;
      if (e.status === 401) { askToken("令牌无效或已吊销: " + e.message); return; }
      setStatus("加载失败: " + e.message, true);
    }
  }

  // ------------------------------------------------------------------------------------------- rendering
  function chart(id) {
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: "canvas" });
      window.addEventListener("resize", () => charts[id].resize());
    }
    return charts[id];
  }

  function drill(regionCode, regionName) {
    if (!regionCode || regionCode === state.region) return;
    if (!state.crumbs.length || state.crumbs[state.crumbs.length - 1].code !== (state.region || code)) {
      state.crumbs.push({ code: state.region || code, name: state.lastName });
    }
    state.crumbs.push({ code: regionCode, name: regionName });
    state.region = regionCode;
    state.rankPage = 0;
    load();
  }

  function renderCrumbs(scope) {
    state.lastName = scope.region_name;
    const trail = state.crumbs.length ? state.crumbs : [{ code: scope.region_code, name: scope.region_name }];
    const nav = $("crumbs");
    nav.innerHTML = "";
    trail.forEach((c, i) => {
      if (i) nav.insertAdjacentHTML("beforeend", '<span class="sep">›</span>');
      const last = i === trail.length - 1;
      const el = document.createElement(last ? "strong" : "a");
      el.textContent = c.name || c.code;
      el.dataset.code = c.code;
      if (!last) el.onclick = () => { state.crumbs = state.crumbs.slice(0, i + 1); state.region = c.code === code ? null : c.code; state.rankPage = 0; load(); };
      nav.appendChild(el);
    });
  }

  function kpi(k, v, s) {
    return `<div class="kpi"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="s">${esc(s || "")}</div></div>`;
  }

  function render(data, sync) {
    $("board").hidden = false;
    $("node-name").textContent = data.scope.region_name;
    $("period").textContent = data.scope.period + " · " + data.scope.as_of_label;
    renderCrumbs(data.scope);
    fillYears(data);
    const st = data.stations.totals, sg = data.suggestions.totals, lv = data.livelihood.totals;
    const cov = data.coverage.filter((t) => t.rate !== null);
    const avg = cov.length ? cov.reduce((a, t) => a + t.rate, 0) / cov.length : null;
    $("kpis").innerHTML = [
      kpi("指标平均覆盖率", pct(avg), `${cov.length} 项指标`),
      kpi("代表联络站", num(st.stations), `闲置 ${num(st.idle_stations)} 个`),
      kpi("进站接待", num(st.visits), `接待群众 ${num(st.people)} 人次`),
      kpi("群众反映问题", num(st.issues_raised), `当场解决率 ${pct(st.resolve_rate)}`),
      kpi("代表建议", num(sg.total), `答复率 ${pct(sg.reply_rate)} · 满意率 ${pct(sg.satisfaction)}` + entries(sg)),
      kpi("超期未答复", num(sg.overdue), `跟踪督办中 ${num(sg.open_follow_up)} 件`),
      kpi("民生实事(通过)", num(lv.passed), `投资 ${num(lv.investment_yi)} 亿元`),
      kpi("民生实事平均进度", lv.avg_progress === null ? "—" : lv.avg_progress + "%", `通过率 ${pct(lv.pass_rate)}`),
      kpi("同步健康", sync ? healthLabel(sync) : "—", sync ? healthDetail(sync) : "下钻区域不显示"),
    ].join("");
    window.yipanqiDashboard.data = data;
    renderCoverage(data.coverage);
    renderDrillBox(data.regions.children);
    renderRanking(data);
    renderTargetPick(data.coverage);
    renderRegions(data.coverage);
    renderStations(data.stations.by_region);
    renderSuggestions(data.suggestions.by_state);
    renderLivelihood(data.livelihood.by_region);
    renderSync(sync);
    window.yipanqiDashboard.sync = sync;
  }

  function freshness(sync) {
    const behind = sync.head - sync.projected;
    return `日志头 ${num(sync.head)}` + (behind > 0 ? ` · 读模型追赶中, 差 ${num(behind)} 条` : "");
  }

  // The whole subtree's streams (every level below, as each child's relay reports its own subtree up), not only
  // this node's children: "全部正常" only when every one of them follows.
  function healthLabel(sync) {
    const t = sync.subtree;
    if (!t || !t.streams) return "无下级";
    if (t.all_following) return "全部正常";
    return `${num(t.streams - t.following)} 条流异常`;
  }

  function healthDetail(sync) {
    const t = sync.subtree;
    if (!t || !t.streams) return freshness(sync);
    const bad = STATES.filter((s) => s !== "following" && t.by_state[s]).map((s) => `${t.labels[s] || s} ${num(t.by_state[s])}`);
    return `辖区 ${num(t.following)} / ${num(t.streams)} 条流正常` + (bad.length ? " · " + bad.join(" · ") : "");
  }

  function fillYears(data) {
    const sel = $("year");
    const years = new Set((data.livelihood.by_year || []).map((y) => String(y.year)));
    years.add(String(data.scope.year));
    const have = new Set([...sel.options].map((o) => o.value));
    [...years].sort().forEach((y) => { if (!have.has(y)) sel.add(new Option(y + "年", y)); });
  }

  function renderCoverage(targets) {
    const rows = targets.slice().reverse();
    chart("chart-coverage").setOption({
      grid: { left: 260, right: 60, top: 10, bottom: 20 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (p) => { const t = rows[p[0].dataIndex]; return `${esc(t.label)}<br>覆盖 ${num(t.covered)} / ${num(t.population)} (${pct(t.rate)})<br>未完成 ${num(t.missing)}`; } },
      xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: rows.map((t) => t.label), axisLabel: { width: 250, overflow: "truncate" } },
      series: [{ type: "bar", name: "覆盖率", data: rows.map((t) => ({ value: t.rate === null ? 0 : +(t.rate * 100).toFixed(1), itemStyle: { color: t.rate === null ? GREY : t.rate < 0.6 ? RED : t.rate < 0.9 ? GOLD : GREEN } })),
        label: { show: true, position: "right", formatter: (p) => (rows[p.dataIndex].rate === null ? "无数据" : p.value + "%") } }],
    }, true);
    const body = $("behind").querySelector("tbody");
    body.innerHTML = targets.map((t) => {
      const worst = (t.worst_regions || []).map((r) => `<a data-code="${esc(r.code)}" data-name="${esc(r.name)}">${esc(r.name)}</a> ${pct(r.rate)}`).join("、") || "—";
      const short = (x) => { const v = String(x || ""); return v.length > 24 ? v.slice(0, 24) + "…" : v; };
      const who = ((t.missing_list && t.missing_list.items) || []).map((m) => esc(short(m.name || m.body || m.title || m.opinion || m.number))).join("、") || "—";
      return `<tr><td>${esc(t.label)}<br><small>${esc(t.source || "")}</small></td><td class="rate">${pct(t.rate)}<br><small>${num(t.covered)}/${num(t.population)}</small></td><td>${worst}</td><td>${who}</td></tr>`;
    }).join("");
    body.querySelectorAll("a[data-code]").forEach((a) => { a.onclick = () => drill(a.dataset.code, a.dataset.name); });
  }

  function renderTargetPick(targets) {
    const sel = $("target-pick");
    if (!state.target || !targets.some((t) => t.key === state.target)) {
      const withData = targets.find((t) => (t.by_region || []).some((r) => r.population));
      state.target = (withData || targets[0] || {}).key;
    }
    sel.innerHTML = targets.map((t) => `<option value="${esc(t.key)}">${esc(t.label)}</option>`).join("");
    sel.value = state.target;
    sel.onchange = () => { state.target = sel.value; renderRegions(window.yipanqiDashboard.data.coverage); };
  }

  // The MAX_BARS regions first by ``key`` (all of them if fewer), and a note saying so when some are left out.
  function firstRegions(rows, key, noteId, what) {
    const shown = rows.slice().sort((a, b) => key(a) - key(b) || String(a.code).localeCompare(String(b.code))).slice(0, MAX_BARS);
    $(noteId).textContent = rows.length > shown.length
      ? `共 ${rows.length} 个区域, 显示${what}的 ${shown.length} 个; 其余见“下钻”或区域排名 · 点击区域下钻`
      : "点击区域下钻";
    return shown;
  }

  function renderDrillBox(children) {
    const sel = $("drill");
    const kids = (children || []).filter((c) => c.code && c.code !== (state.region || code));
    sel.innerHTML = '<option value="">下级区域…</option>' + kids.map((c) => `<option value="${esc(c.code)}">${esc(c.code)} ${esc(c.name)}</option>`).join("");
    sel.disabled = !kids.length;
    sel.onchange = () => { const c = kids.find((k) => k.code === sel.value); if (c) drill(c.code, c.name); };
  }

  // Children ranked by their average coverage rate over the targets they have a population for (worst first);
  // children with no such target (no deputies recorded there yet) come last, unranked, so none is hidden.
  // Evaluations by the deputies' own credentials and those their offices entered from signed forms (代录): an office
  // entry is never counted as the deputy's own. Not counted as of a cut (null).
  function entries(sg) {
    return sg.evaluations_self === null || sg.evaluations_self === undefined
      ? ""
      : ` · 评价 本人 ${num(sg.evaluations_self)} / 代录 ${num(sg.evaluations_office)}`;
  }

  function ranking(data) {
    const by = {};
    const row = (r) => (by[r.region_id] = by[r.region_id] || { region_id: r.region_id, code: r.code, name: r.name, rates: [] });
    data.coverage.forEach((t) => (t.by_region || []).forEach((r) => { if (r.population) row(r).rates.push({ rate: r.rate, label: t.short }); }));
    (data.stations.by_region || []).forEach((r) => { row(r).visits = r.visits; });
    (data.suggestions.by_region || []).forEach((r) => {
      Object.assign(row(r), { suggestions: r.total, reply_rate: r.reply_rate, own: r.evaluations_self, entered: r.evaluations_office });
    });
    (data.livelihood.by_region || []).forEach((r) => { row(r).investment = r.investment_wan; });
    const rows = Object.values(by).filter((r) => r.code && r.region_id !== data.scope.region_id);
    rows.forEach((r) => {
      r.avg = r.rates.length ? r.rates.reduce((a, x) => a + x.rate, 0) / r.rates.length : null;
      r.weakest = r.rates.length ? r.rates.reduce((a, x) => (x.rate < a.rate ? x : a)) : null;
    });
    const last = (r) => (r.avg === null ? Infinity : r.avg);
    return rows.sort((a, b) => last(a) - last(b) || String(a.code).localeCompare(String(b.code)));
  }

  function renderRanking(data) {
    const rows = ranking(data);
    const ranked = rows.filter((r) => r.avg !== null).length;
    const pages = Math.max(1, Math.ceil(rows.length / RANK_PAGE));
    state.rankPage = Math.min(state.rankPage, pages - 1);
    const first = state.rankPage * RANK_PAGE;
    $("ranking").querySelector("tbody").innerHTML = rows.slice(first, first + RANK_PAGE).map((r, i) =>
      `<tr><td class="num">${r.avg === null ? "—" : first + i + 1}</td><td><a data-code="${esc(r.code)}" data-name="${esc(r.name)}">${esc(r.name)}</a></td>` +
      `<td class="rate"><span class="bar" style="width:${Math.round((r.avg || 0) * 80)}px"></span>${pct(r.avg)}</td>` +
      `<td>${r.weakest ? esc(r.weakest.label) + " " + pct(r.weakest.rate) : "无代表数据"}</td><td class="num">${num(r.visits)}</td>` +
      `<td class="num">${num(r.suggestions)} (${pct(r.reply_rate)})</td><td class="num">${num(r.own)} / ${num(r.entered)}</td>` +
      `<td class="num">${num(r.investment)} 万元</td></tr>`).join("");
    $("ranking").querySelectorAll("a[data-code]").forEach((a) => { a.onclick = () => drill(a.dataset.code, a.dataset.name); });
    $("ranking-note").textContent = rows.length
      ? `${rows.length} 个下级区域, 最落后的在前` + (ranked < rows.length ? ` (${rows.length - ranked} 个无代表数据, 列在最后)` : "") + " · 点击区域下钻"
      : "无下级区域";
    $("rank-page").textContent = `第 ${state.rankPage + 1} / ${pages} 页`;
    $("rank-prev").disabled = state.rankPage === 0;
    $("rank-next").disabled = state.rankPage >= pages - 1;
  }

  function regionBars(id, rows, series, extra) {
    const c = chart(id);
    c.setOption(Object.assign({
      grid: { left: 50, right: 50, top: 36, bottom: 70 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { rotate: rows.length > 6 ? 40 : 0, interval: 0 } },
      yAxis: [{ type: "value" }],
      series: series,
    }, extra || {}), true);
    // Clicking anywhere in a region's column (bar, label or the hover shadow) drills into that region.
    c.getZr().off("click");
    c.getZr().on("click", (ev) => {
      const point = [ev.offsetX, ev.offsetY];
      if (!c.containPixel("grid", point)) return;
      const idx = c.convertFromPixel({ seriesIndex: 0 }, point)[0];
      const r = rows[idx];
      if (r && r.code) drill(r.code, r.name);
    });
  }

  function renderRegions(targets) {
    const t = targets.find((x) => x.key === state.target) || targets[0];
    const rows = firstRegions(((t && t.by_region) || []).filter((r) => r.population), (r) => r.rate, "regions-note", "覆盖率最低");
    regionBars("chart-regions", rows, [
      { type: "bar", name: "已完成", stack: "n", data: rows.map((r) => r.covered), itemStyle: { color: GREEN } },
      { type: "bar", name: "未完成", stack: "n", data: rows.map((r) => r.missing), itemStyle: { color: RED } },
      { type: "line", name: "覆盖率", yAxisIndex: 1, data: rows.map((r) => (r.rate === null ? null : +(r.rate * 100).toFixed(1))), itemStyle: { color: GOLD } },
    ], { yAxis: [{ type: "value", name: "人/件" }, { type: "value", name: "覆盖率%", max: 100 }] });
  }

  function renderStations(all) {
    const rows = firstRegions(all, (r) => -r.visits, "stations-note", "进站接待最多");
    regionBars("chart-stations", rows, [
      { type: "bar", name: "进站接待", data: rows.map((r) => r.visits), itemStyle: { color: RED } },
      { type: "bar", name: "接待群众", data: rows.map((r) => r.people), itemStyle: { color: GOLD } },
      { type: "bar", name: "联络站", data: rows.map((r) => r.stations), itemStyle: { color: BLUE } },
    ]);
  }

  function renderSuggestions(byState) {
    chart("chart-suggestions").setOption({
      tooltip: { trigger: "item", formatter: "{b}: {c} 件" },
      grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", data: byState.map((s) => s.label), axisLabel: { interval: 0 } },
      yAxis: { type: "value", name: "件" },
      series: [{ type: "bar", name: "建议", data: byState.map((s) => s.count), itemStyle: { color: RED }, label: { show: true, position: "top" } }],
    }, true);
  }

  function renderLivelihood(all) {
    const rows = firstRegions(all, (r) => -r.investment_wan, "livelihood-note", "投资最多");
    regionBars("chart-livelihood", rows, [
      { type: "bar", name: "投资(万元)", data: rows.map((r) => r.investment_wan), itemStyle: { color: RED } },
      { type: "line", name: "平均进度%", yAxisIndex: 1, data: rows.map((r) => r.avg_progress), itemStyle: { color: GOLD } },
      { type: "bar", name: "通过项目", yAxisIndex: 1, data: rows.map((r) => r.passed), itemStyle: { color: BLUE } },
    ], { yAxis: [{ type: "value", name: "万元" }, { type: "value", name: "%/个", max: (v) => Math.max(100, v.max) }] });
  }

  // Per region of the subtree (this node's children, and this node's own streams), how many streams are in each state.
  function renderSync(sync) {
    const t = (sync && sync.subtree) || { regions: [], problems: [], streams: 0, unlisted: 0 };
    const regions = t.regions || [];
    chart("chart-sync").setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, itemWidth: 12, textStyle: { fontSize: 11 }, data: STATES.map((s) => (t.labels || {})[s] || s) },
      grid: { left: 60, right: 20, top: 64, bottom: 70 },
      xAxis: { type: "category", data: regions.map((r) => r.name || r.code), axisLabel: { rotate: regions.length > 6 ? 40 : 0, interval: 0 } },
      yAxis: { type: "value", name: "流(条)" },
      series: STATES.map((s) => ({ type: "bar", stack: "streams", name: (t.labels || {})[s] || s, itemStyle: { color: STATE_COLOURS[s] },
        data: regions.map((r) => (s === "following" ? r.following : (r.by_state || {})[s] || 0)) })),
    }, true);
    const problems = (t.problems || []).slice(0, 8);
    $("sync-problems").innerHTML = problems.map((p) =>
      `<li><strong>${esc(p.state_label)}</strong> ${esc(p.child)} → ${esc(p.node)} · 持有 ${num(p.held)} / ${num(p.head)}` +
      (p.reason ? ` · ${esc(p.reason)}` : "") + "</li>").join("");
    const more = (t.problems || []).length - problems.length + (t.unlisted || 0);
    $("sync-note").textContent = sync
      ? `辖区共 ${num(t.streams)} 条流, ${num(t.following)} 条正常` + (more > 0 ? `, 另有 ${num(more)} 条异常未列出 (yipanqi sync status --subtree)` : "") +
        ` · 本节点日志头 ${num(sync.head)}` + (sync.published === null ? " (省级, 无上级)" : `, 已向上级发布 ${num(sync.published)}, 待发布 ${num(sync.unpublished)}`)
      : "下钻到下级区域时, 同步状态请在该节点的看板查看。";
  }

  // ---------------------------------------------------------------------------------------------- controls
  $("refresh").onclick = load;
  $("rank-prev").onclick = () => { state.rankPage -= 1; renderRanking(window.yipanqiDashboard.data); };
  $("rank-next").onclick = () => { state.rankPage += 1; renderRanking(window.yipanqiDashboard.data); };
  $("year").onchange = () => { state.year = $("year").value; load(); };
  $("asof").onchange = () => { state.asOf = $("asof").value; load(); };
  $("clock").onchange = () => { state.by = $("clock").value; if (state.asOf) load(); };

  window.yipanqiDashboard = { state, charts, drill, load, data: null, sync: null };
  load();
})();
