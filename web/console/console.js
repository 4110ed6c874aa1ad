// The 12333 agent console: login with password and TOTP, then the caller search and
// overview, the queues and the audit trail. Plain modules, served from this origin.

import { ApiError, keepWorking, loggedIn, login, logout, me, watchSession } from "./api.js";
import { $, clear, h, when } from "./dom.js";
import { loadAudit, loadCases, loadFilings, setUpAudit, setUpCases, setUpFilings } from "./lists.js";
import { search } from "./overview.js";

const VIEWS = ["search-view", "cases-view", "filings-view", "audit-view"];
const LOADERS = { "cases-view": loadCases, "filings-view": loadFilings, "audit-view": loadAudit };

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  if (LOADERS[view]) LOADERS[view]();
  if (view === "search-view") $("search-input").focus();
}

function signedIn(mine) {
  $("login-view").hidden = true;
  $("topbar").hidden = false;
  clear($("who"), h("span", {}, `${mine.display_name}（${mine.role === "admin" ? "管理员" : "坐席"}）`),
    h("span", { class: "muted" }, ` 辖区：${mine.regions.map((r) => r.name).join("、") || "全区"}`));
  $("session-info").textContent = `登录至 ${when(mine.session_ends_at)}`;
  $("tab-audit").textContent = mine.role === "admin" ? "审计记录" : "我的操作记录";
  show("search-view");
}

function signedOut(message) {
  for (const id of VIEWS) $(id).hidden = true;
  $("topbar").hidden = true;
  $("banner").hidden = true;
  $("overview").hidden = true;
  clear($("overview"));
  clear($("search-results"));
  $("search-input").value = "";
  $("search-input").placeholder = "身份证号 / 手机号 / 姓名 出生年份（如：张建国 1950）";
  if ($("dialog").open) $("dialog").close();
  $("login-view").hidden = false;
  $("login-form").reset();
  const note = $("login-message");
  note.textContent = message || "";
  note.className = "message info";
}

function warn(warnings) {
  const banner = $("banner");
  if (!warnings.length) { banner.hidden = true; return; }
  $("banner-text").textContent = warnings.map((w) => w.text).join(" ");
  banner.dataset.kind = warnings.map((w) => w.kind).join(" ");
  $("banner-continue").hidden = !warnings.some((w) => w.kind === "idle");
  banner.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  watchSession(warn, signedOut);
  setUpCases();
  setUpFilings();
  setUpAudit();
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = $("login-message");
    note.className = "message";
    note.textContent = "";
    $("login-submit").disabled = true;
    try {
      signedIn(await login($("login-username").value.trim(), $("login-password").value, $("login-totp").value.trim()));
    } catch (error) {
      note.textContent = error instanceof ApiError ? error.message : "无法连接服务器，请稍后再试。";
    } finally { $("login-submit").disabled = false; }
  });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));
  $("logout").addEventListener("click", () => logout("已退出。"));
  $("banner-continue").addEventListener("click", async () => { $("banner").hidden = true; await keepWorking(); });
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search($("search-input").value); });
  window.addEventListener("beforeunload", () => { if (loggedIn() && me()) logout(); });
});
