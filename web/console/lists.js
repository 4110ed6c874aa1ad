// The review-case queue, the filing queue and the audit trail: filters, a page at a time.

import { call, download, me } from "./api.js";
import { $, clear, h, table, toast, when } from "./dom.js";
import { FILING_STATUS, decide, open, reviewButtons } from "./overview.js";

function pager(key, load) {
  const state = { cursor: null, rows: [] };
  $(`${key}-more`).addEventListener("click", () => load(state, true));
  return state;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return q.toString();
}

async function page(state, more, path, params, render, key) {
  if (!more) { state.cursor = null; state.rows = []; }
  try {
    const { data } = await call("GET", `${path}?${query({ ...params, after: more ? state.cursor : null })}`);
    const rows = data.cases || data.filings || data.entries;
    state.rows = more ? [...state.rows, ...rows] : rows;
    state.cursor = data.next_cursor;
    render(state.rows);
    $(`${key}-more`).hidden = !state.cursor;
  } catch (error) { toast(error.message, true); }
}

// -- review cases ------------------------------------------------------------------------

const cases = { state: null };

export function setUpCases() {
  const load = (state, more) => page(state, more, "/v1/console/review-cases",
    { status: $("cases-status").value, region: $("cases-region").value.trim(), limit: 50 }, renderCases, "cases");
  cases.state = pager("cases", load);
  cases.load = () => load(cases.state, false);
  $("cases-form").addEventListener("submit", (event) => { event.preventDefault(); cases.load(); });
}

export function loadCases() { return cases.load(); }

function renderCases(rows) {
  clear($("cases-table"), table(["开案时间", "姓名", "地区", "类型", "日期", "状态", ""], rows.map((r) => ({
    id: r.case.case_id, cells: [when(r.case.opened_at), r.name, r.region_name, r.case.kind_name, r.case.day,
      r.case.status === "open" ? "待处理" : r.case.status,
      h("span", {}, r.case.status === "open" ? h("button", { class: "link", id: `decide-${r.case.case_id}`,
        onclick: () => decide(r.case, loadCases) }, "处理") : null,
      h("button", { class: "link", onclick: () => showCaller(r.person_id) }, "查看来电人"))] }))));
}

async function showCaller(personId) {
  document.querySelector('[data-view="search-view"]').click();
  await open(personId);
}

// -- filings ---------------------------------------------------------------------------------

const filings = {};

export function setUpFilings() {
  const load = (state, more) => page(state, more, "/v1/console/filings",
    { status: $("filings-status").value, region: $("filings-region").value.trim(), limit: 50 }, renderFilings, "filings");
  filings.state = pager("filings", load);
  filings.load = () => load(filings.state, false);
  $("filings-form").addEventListener("submit", (event) => { event.preventDefault(); filings.load(); });
}

export function loadFilings() { return filings.load(); }

function renderFilings(rows) {
  clear($("filings-table"), table(["备案时间", "姓名", "地区", "类别", "就医地", "开始日期", "状态", ""], rows.map((r) => ({
    id: r.filing.filing_id, cells: [when(r.filing.history[0]?.at), r.name, r.region_name, r.filing.category_name,
      r.filing.destination.name, r.filing.start_date, FILING_STATUS[r.filing.status] || r.filing.status,
      r.filing.status === "pending_review" ? reviewButtons(r.filing, loadFilings) : ""] }))));
}

// -- the audit trail -----------------------------------------------------------------------

export const ACTIONS = {
  "console.search": "查找来电人", "console.overview": "查看来电人", "console.reveal": "查看完整信息",
  "console.card_temp_loss": "电话临时挂失", "console.certify": "上门/窗口认证",
  "console.resend_reminder": "重发提醒", "console.review_decision": "处理复核案件",
  "console.filing_approve": "批准备案", "console.filing_reject": "驳回备案",
  "console.case_queue": "查看复核队列", "console.filing_queue": "查看备案队列",
  "console.audit_read": "查看审计记录", "console.audit_export": "导出审计记录",
  "login.console": "坐席登录", "person.read": "查看人员",
};

const audit = {};

function auditParams() {
  return { actor: $("audit-actor").value.trim(), person: $("audit-person").value.trim(),
    action: $("audit-action").value, since: $("audit-since").value, until: $("audit-until").value };
}

export function setUpAudit() {
  clear($("audit-action"), h("option", { value: "" }, "全部操作"),
    Object.entries(ACTIONS).map(([code, name]) => h("option", { value: code }, name)));
  const load = (state, more) => page(state, more, "/v1/console/audit", { ...auditParams(), limit: 50 }, renderAudit, "audit");
  audit.state = pager("audit", load);
  audit.load = () => load(audit.state, false);
  $("audit-form").addEventListener("submit", (event) => { event.preventDefault(); audit.load(); });
  $("audit-export").addEventListener("click", async () => {
    try {
      await download(`/v1/console/audit/export?${query(auditParams())}`, `audit-${new Date().toISOString().slice(0, 10)}.csv`);
      toast("已导出 CSV。");
    } catch (error) { toast(error.message, true); }
  });
}

export function loadAudit() {
  const admin = me().role === "admin";
  $("audit-actor-label").hidden = !admin;
  $("tab-audit").textContent = admin ? "审计记录" : "我的操作记录";
  return audit.load();
}

function renderAudit(rows) {
  clear($("audit-table"), table(["时间", "操作人", "操作", "对象", "结果", "详情"], rows.map((e) => ({
    id: e.audit_id, cells: [when(e.at), e.actor, ACTIONS[e.action] || e.action, e.object, e.outcome,
      Object.entries(e.detail).map(([k, v]) => `${k}=${k === "reason" ? reasonName(v) : v}`).join("；")] }))));
}

function reasonName(code) {
  const found = me().reveal_reasons.find((r) => r.code === code);
  return found ? `${found.name}（${code}）` : code;
}
