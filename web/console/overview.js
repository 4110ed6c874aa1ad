// 来电查询: find the caller, then everything about them on one screen, masked; a reveal
// with its reason; the actions, each confirmed in a dialog and answered with its audit id.

import { ApiError, call, me } from "./api.js";
import { $, ask, clear, day, h, table, toast, when } from "./dom.js";

const ID_NUMBER = /^\d{17}[\dXx]$/;
const PHONE = /^1[3-9]\d{9}$/;
let current = null; // { personId, searchedBy }

export function parseQuery(text) {
  const value = text.trim().replace(/\s+/g, " ");
  if (ID_NUMBER.test(value)) return { id_number: value.toUpperCase() };
  if (PHONE.test(value.replace(/[\s-]/g, ""))) return { phone: value.replace(/[\s-]/g, "") };
  const named = value.match(/^(\S+)\s*(\d{4})$/);
  if (named) return { name: named[1], birth_year: Number(named[2]) };
  throw new Error("请输入 18 位身份证号、11 位手机号，或姓名加出生年份（如：张建国 1950）。");
}

export async function search(text) {
  const message = $("search-message");
  message.textContent = "";
  clear($("search-results"));
  let query;
  try { query = parseQuery(text); } catch (error) { message.textContent = error.message; return; }
  const searchedBy = Object.keys(query)[0];
  try {
    const { data } = await call("POST", "/v1/console/callers/search", { body: query });
    if (data.callers.length === 1) {
      await open(data.callers[0].person_id, searchedBy);
      $("search-input").value = "";  // the spoken number stays on screen only masked
      $("search-input").placeholder = `已找到：${data.callers[0].name} ${data.callers[0].id_number}`;
      return;
    }
    $("overview").hidden = true;
    if (!data.callers.length) { message.textContent = "没有找到（或不在您的辖区）。"; return; }
    if (data.more) message.textContent = "超过 20 人，只显示前 20 人，请补充条件。";
    clear($("search-results"), table(["姓名", "身份证号", "手机号", "地区", "类别"],
      data.callers.map((c) => ({ id: c.person_id, cells: [c.name, c.id_number, c.phone || "—",
        c.region_name, c.person_type_name] })), (row) => open(row.id, searchedBy)));
  } catch (error) { message.textContent = error.message; }
}

export async function open(personId, searchedBy = null) {
  current = { personId, searchedBy: searchedBy ?? current?.searchedBy };
  const { data } = await call("GET", `/v1/console/people/${personId}`);
  clear($("search-results"));
  render(data);
}

async function reload() { if (current) await open(current.personId); }

function render(view) {
  const el = $("overview");
  el.hidden = false;
  clear(el,
    h("div", { class: "column" }, identityPanel(view.identity), certPanel(view)),
    h("div", { class: "column" }, filingsPanel(view), cardsPanel(view)),
    h("div", { class: "column" }, noticesPanel(view), familyPanel(view)));
}

function panel(title, extra, ...content) {
  return h("section", { class: "panel" }, h("h2", {}, h("span", {}, title), extra), ...content);
}

function identityPanel(who) {
  const fact = (label, value, field) => [h("dt", {}, label), h("dd", {}, h("span", { id: field ? `value-${field}` : null }, value),
    field ? h("button", { class: "link", id: `reveal-${field}`, onclick: () => reveal(who, field) }, "查看") : null)];
  return h("section", { class: "panel compact", id: "identity" }, h("h2", {}, "身份信息"),
    h("dl", { class: "facts" }, fact("姓名", who.name), fact("身份证号", who.id_number, "id_number"),
      fact("手机号", who.phone || "—", who.phone ? "phone" : null), fact("地区", `${who.region_name}（${who.region_code}）`),
      fact("类别", who.person_type_name), fact("人员编号", who.person_id)));
}

async function reveal(who, field) {
  const reasons = h("select", { id: "reveal-reason" }, h("option", { value: "" }, "请选择理由"),
    me().reveal_reasons.map((r) => h("option", { value: r.code }, r.name)));
  const note = h("textarea", { id: "reveal-note", maxlength: 200, placeholder: "说明（至少 4 个字）" });
  const asked = await ask({ title: field === "phone" ? "查看完整手机号" : "查看完整身份证号",
    body: [h("p", {}, "查看完整信息会记录审计，并按坐席每日计数。"), h("label", {}, "理由 ", reasons), h("label", {}, "说明 ", note)],
    confirm: "确认查看",
    collect: () => {
      if (!reasons.value) throw new Error("请选择理由。");
      if (note.value.trim().length < 4) throw new Error("请填写说明（至少 4 个字）。");
      return { field, reason: reasons.value, note: note.value.trim() };
    } });
  if (!asked) return;
  try {
    const { data } = await call("POST", `/v1/console/people/${who.person_id}/reveal`, { body: asked });
    const slot = $(`value-${field}`);
    slot.textContent = data.value;
    slot.className = "revealed";
    toast(`已记录审计（编号 ${data.audit_id.slice(0, 8)}），今日第 ${data.reveals_today} 次查看${data.alert ? "，已超过提醒阈值" : ""}。`);
    setTimeout(() => { if (slot.isConnected) { slot.textContent = field === "phone" ? who.phone : who.id_number; slot.className = ""; } }, 60000);
  } catch (error) { toast(error.message, true); }
}

const STATUS_CLASS = { certified: "ok", due_soon: "warn", overdue_suspended: "bad", pending_review: "warn", blocked: "bad" };

function certPanel(view) {
  const c = view.certification;
  const etag = `"v${c.version}"`;
  const pid = view.identity.person_id;
  return panel("养老金资格认证", h("span", { class: `badge ${STATUS_CLASS[c.status] || ""}`, id: "cert-status" }, c.status_name),
    h("dl", { class: "facts" }, h("dt", {}, "有效期至"), h("dd", { id: "cert-deadline" }, day(c.valid_through)),
      h("dt", {}, "上次认证"), h("dd", {}, day(c.last_certified_on)),
      h("dt", {}, "暂停发放"), h("dd", {}, c.suspended_from || "—")),
    h("div", { class: "actions" },
      h("button", { id: "certify-home", onclick: () => certify(pid, "home_visit", etag) }, "上门认证"),
      h("button", { id: "certify-office", onclick: () => certify(pid, "office", etag) }, "窗口认证"),
      h("button", { id: "resend-reminder", onclick: () => resend(pid, etag) }, "重发最近提醒"),
      h("button", { id: "book-visit", onclick: () => bookVisit(pid, etag) }, "预约上门")),
    h("h3", {}, "待复核案件"),
    c.cases.length ? c.cases.map((k) => h("div", { class: "card" }, `${k.kind_name}（${k.day}）`,
      h("button", { class: "link", onclick: () => decide(k) }, "处理"))) : h("div", { class: "muted" }, "无"),
    h("h3", {}, "最近人脸认证"),
    c.attempts.length ? table(["时间", "结果", "原因"], c.attempts.map((a) => ({ cells: [when(a.at), a.result === "pass" ? "通过" : "未通过", a.reason_text || "—"] }))) : h("div", { class: "muted" }, "无"),
    h("h3", {}, "静默认证信息"),
    c.signals.length ? table(["日期", "来源"], c.signals.map((s) => ({ cells: [day(s.day), s.note] }))) : h("div", { class: "muted" }, "无"));
}

function filingRows(filings, withReview) {
  return table(["类别", "就医地", "起止", "状态", ""], filings.map((f) => ({ id: f.filing_id, cells: [
    f.category_name, f.destination.name, `${f.start_date} 至 ${f.end_date || "长期"}`, FILING_STATUS[f.status] || f.status,
    withReview && f.status === "pending_review" ? reviewButtons(f) : ""] })));
}

export const FILING_STATUS = { effective: "已生效", pending_review: "待审核", rejected: "未通过", cancelled: "已取消", expired: "已过期" };

export function reviewButtons(f, after = reload) {
  return h("span", {}, h("button", { class: "link", onclick: () => reviewFiling(f, "approve", after) }, "批准"),
    h("button", { class: "link", onclick: () => reviewFiling(f, "reject", after) }, "驳回"));
}

function filingsPanel(view) {
  return panel("异地就医备案", null, h("h3", {}, "有效及待审核"), filingRows(view.filings_current, true),
    h("h3", {}, "以往备案"), filingRows(view.filings_past, false));
}

function cardsPanel(view) {
  return panel("社保卡", null, view.cards.length ? view.cards.map((card) => h("div", { class: "card", id: `card-${card.card_id}` },
    h("div", {}, h("strong", {}, card.card_number), ` ${card.bank} `, h("span", { class: `badge ${card.status === "normal" ? "ok" : "warn"}`, id: `card-status-${card.card_id}` }, card.status_name),
      card.temp_loss_lifts_on ? h("span", { class: "muted" }, ` 自动解除：${card.temp_loss_lifts_on}`) : null),
    h("div", { class: "steps" }, "进度：", card.progress.map((s) => s.name).join(" → ") || "—"),
    h("div", { class: "actions" }, card.status === "normal" || card.bank_status === "normal"
      ? h("button", { class: "danger", id: `temp-loss-${card.card_id}`, onclick: () => tempLoss(card) }, "临时挂失（12333）") : null)))
    : h("div", { class: "muted" }, "没有社保卡记录"));
}

const CHANNELS = { sms: "短信", wechat: "微信" };
const DELIVERY = { delivered: "已送达", pending: "发送中", not_delivered: "未送达", dead: "发送失败" };

function noticesPanel(view) {
  return panel("最近通知", null, table(["时间", "通知", "渠道", "送达"], view.notifications.map((n) => ({ cells: [
    when(n.created_at), n.kind_name, CHANNELS[n.channel] || n.channel,
    h("span", { class: `badge ${n.delivered ? "ok" : n.status === "pending" ? "warn" : "bad"}` }, DELIVERY[n.status] || n.status)] }))));
}

const PERMISSIONS = { pension_cert: "资格认证", card: "社保卡", filing: "异地就医" };
const LINKS = { invited: "已邀请", accepted: "待确认", confirmed: "已生效", ended: "已结束" };

function familyPanel(view) {
  return panel("亲情服务", null, table(["关系", "状态", "权限", "时间"], view.family.map((f) => ({ cells: [
    f.direction === "granted" ? "授权他人代办" : "为他人代办", LINKS[f.status] || f.status,
    f.permissions.map((p) => PERMISSIONS[p] || p).join("、"), when(f.created_at)] }))));
}

// -- actions: each confirmed, each answered with its audit id ----------------------------

async function act(method, path, body, etag, after = reload) {
  try {
    const { data } = await call(method, path, { body, headers: { "If-Match": etag } });
    toast(`已办理，审计编号 ${data.audit_id.slice(0, 8)}。`);
    await after();
    return data;
  } catch (error) {
    toast(error instanceof ApiError && error.status === 412 ? "信息已被他人更新，已刷新，请重新操作。" : error.message, true);
    if (error instanceof ApiError && error.status === 412) await after();
    return null;
  }
}

async function tempLoss(card) {
  const checks = me().identity_questions.map((q) => h("label", {}, h("input", {
    type: "checkbox", value: q.code, id: `question-${q.code}`,
    checked: current.searchedBy === "id_number" && q.code === "id_number" }), q.name));
  const asked = await ask({ title: "12333 电话临时挂失",
    body: [h("p", {}, `卡号 ${card.card_number}：社保和银行功能同时临时挂失，${"到期自动解除"}。请勾选来电人答对的身份问题（至少两个）。`),
      h("div", { class: "checks" }, checks)],
    confirm: "确认挂失", danger: true,
    collect: () => {
      const picked = checks.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      if (picked.length < 2) throw new Error("请至少勾选两个来电人答对的问题。");
      return { verified_by: picked };
    } });
  if (asked) await act("POST", `/v1/console/cards/${card.card_id}/temp-loss`, asked, `"v${card.version}"`);
}

async function certify(personId, kind, etag) {
  const note = h("textarea", { id: "certify-note", maxlength: 500, placeholder: "核实情况（至少 4 个字）" });
  const asked = await ask({ title: kind === "home_visit" ? "上门认证" : "窗口认证",
    body: [h("p", {}, "确认已当面核实本人健在，记录核实情况。"), note], confirm: "确认认证",
    collect: () => {
      if (note.value.trim().length < 4) throw new Error("请填写核实情况（至少 4 个字）。");
      return { kind, note: note.value.trim() };
    } });
  if (asked) await act("POST", `/v1/console/people/${personId}/certifications`, asked, etag);
}

async function resend(personId, etag) {
  const asked = await ask({ title: "重发最近的认证提醒", body: h("p", {}, "把最近一次认证提醒再发一次（同一提醒每天一次）。"), confirm: "确认重发" });
  if (asked) await act("POST", `/v1/console/people/${personId}/reminders/resend`, undefined, etag);
}

async function bookVisit(personId, etag) {
  const when1 = h("input", { type: "date", id: "visit-date" });
  const address = h("input", { id: "visit-address", maxlength: 200, placeholder: "能找到家门的详细地址" });
  const phone = h("input", { id: "visit-phone", maxlength: 11, placeholder: "不填则用登记的手机号" });
  const asked = await ask({ title: "预约上门认证", body: [h("p", {}, "为不能用人脸认证的来电人预约，进入所在盟市的上门待办。"),
    h("label", {}, "希望日期 ", when1), h("label", {}, "地址 ", address), h("label", {}, "联系电话 ", phone)],
    confirm: "确认预约",
    collect: () => {
      if (!when1.value) throw new Error("请选择希望上门的日期。");
      if (address.value.trim().length < 6) throw new Error("请填写详细地址（至少 6 个字）。");
      return { preferred_dates: [when1.value], address: address.value.trim(), phone: phone.value.trim() || null };
    } });
  if (asked) await act("POST", `/v1/console/people/${personId}/home-visits`, asked, etag);
}

const DECISIONS = { clear: "通过（按当日认证）", fraud: "认定冒领（暂停）", confirm: "维持死亡记录" };

export async function decide(k, after = reload) {
  const options = k.kind === "life_after_death" ? ["clear", "confirm"] : ["clear", "fraud"];
  const radios = options.map((d) => h("label", {}, h("input", { type: "radio", name: "decision", value: d, id: `decision-${d}` }), DECISIONS[d]));
  const asked = await ask({ title: `处理复核案件：${k.kind_name}`, body: [h("p", {}, `案件日期 ${k.day}`), ...radios],
    confirm: "确认处理",
    collect: () => {
      const picked = radios.map((l) => l.querySelector("input")).find((i) => i.checked);
      if (!picked) throw new Error("请选择处理结果。");
      return { decision: picked.value };
    } });
  if (asked) return act("POST", `/v1/console/review-cases/${k.case_id}/decision`, asked, `"v${k.version}"`, after);
  return null;
}

export async function reviewFiling(f, event, after = reload) {
  const reason = h("textarea", { id: "filing-reason", maxlength: 200, placeholder: "驳回原因" });
  const asked = await ask({ title: event === "approve" ? "批准备案" : "驳回备案",
    body: [h("p", {}, `${f.category_name}：${f.destination.name}，${f.start_date} 起`), event === "reject" ? reason : null],
    confirm: event === "approve" ? "确认批准" : "确认驳回", danger: event === "reject",
    collect: () => {
      if (event === "reject" && reason.value.trim().length < 2) throw new Error("请填写驳回原因。");
      return event === "reject" ? { reason: reason.value.trim() } : {};
    } });
  if (asked) return act("POST", `/v1/console/filings/${f.filing_id}/${event}`, asked, `"v${f.version}"`, after);
  return null;
}
