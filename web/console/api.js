// The session: tokens live in this module's memory only (never in browser storage or cookies),
// every request goes through ``call``, and the idle and 12-hour ends are watched by the
// server's clock, read from /v1/console/clock (reading it is not activity).

const IDLE_WARN_MS = 2 * 60 * 1000;
const LIMIT_WARN_MS = 15 * 60 * 1000;
const REFRESH_AFTER_MS = 12 * 60 * 1000; // access tokens live 15 minutes
const CLOCK_EVERY_MS = 4000;

const session = { access: null, refresh: null, issuedAt: 0, me: null, offset: 0,
                  lastActivity: 0, endsAt: 0, idleMs: 30 * 60 * 1000, timer: null };
let handlers = { onEnd: () => {}, onWarn: () => {} };

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `请求失败（${status}）`);
    this.status = status;
    this.code = body && body.error && body.error.code;
    this.field = body && body.error && body.error.field;
  }
}

export function serverNow() { return Date.now() + session.offset; }
export function me() { return session.me; }
export function loggedIn() { return session.access !== null; }

async function send(method, path, { body, headers = {}, token = session.access, raw = false } = {}) {
  const init = { method, headers: { ...headers }, cache: "no-store", credentials: "omit" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (raw && response.ok) return response;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, headers: response.headers };
}

export async function login(username, password, totp) {
  const { data } = await send("POST", "/v1/console/login", { body: { username, password, totp }, token: null });
  session.access = data.access_token;
  session.refresh = data.refresh_token;
  const { data: mine } = await send("GET", "/v1/console/me");
  session.me = mine;
  session.offset = Date.parse(mine.now) - Date.now();
  session.issuedAt = serverNow();
  session.lastActivity = serverNow();
  session.endsAt = Date.parse(mine.session_ends_at);
  session.idleMs = mine.idle_timeout_seconds * 1000;
  clearInterval(session.timer);
  session.timer = setInterval(watch, CLOCK_EVERY_MS);
  return mine;
}

async function refreshTokens() {
  const { data } = await send("POST", "/v1/auth/refresh", { body: { refresh_token: session.refresh }, token: null });
  session.access = data.access_token;
  session.refresh = data.refresh_token;
  session.issuedAt = serverNow();
}

// One request the agent made: it counts as activity (as it does on the server). Access
// tokens are renewed by the server's clock before they run out, and once more on a 401.
export async function call(method, path, options = {}) {
  if (!loggedIn()) throw new ApiError(401, null);
  try {
    if (serverNow() - session.issuedAt > REFRESH_AFTER_MS) await refreshTokens();
    let result;
    try {
      result = await send(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      await refreshTokens();
      result = await send(method, path, options);
    }
    session.lastActivity = serverNow();
    return result;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      end("会话已结束，请重新登录。");
    }
    throw error;
  }
}

export async function logout(message = "已退出。") {
  if (loggedIn()) {
    try { await send("POST", "/v1/auth/logout"); } catch (_) { /* ended anyway */ }
  }
  end(message);
}

function end(message) {
  clearInterval(session.timer);
  session.access = session.refresh = session.me = null;
  handlers.onEnd(message);
}

export function watchSession(onWarn, onEnd) { handlers = { onWarn, onEnd }; }

export async function keepWorking() { await call("GET", "/v1/console/me"); watch(); }

async function watch() {
  if (!loggedIn()) return;
  try {
    const started = Date.now();
    const { data } = await send("GET", "/v1/console/clock", { token: null });
    session.offset = Date.parse(data.now) - (started + Date.now()) / 2;
  } catch (_) { /* keep the last offset */ }
  const now = serverNow();
  const idleLeft = session.lastActivity + session.idleMs - now;
  const limitLeft = session.endsAt - now;
  if (limitLeft <= 0) return end("本次登录已满 12 小时，请重新登录。");
  if (idleLeft <= 0) return end("30 分钟没有操作，已自动退出，请重新登录。");
  const warnings = [];
  if (idleLeft <= IDLE_WARN_MS) {
    warnings.push({ kind: "idle", text: `${Math.max(1, Math.ceil(idleLeft / 60000))} 分钟内没有操作将自动退出。` });
  }
  if (limitLeft <= LIMIT_WARN_MS) {
    warnings.push({ kind: "limit", text: `本次登录将在 ${Math.max(1, Math.ceil(limitLeft / 60000))} 分钟后到期（每次最长 12 小时），请及时保存并重新登录。` });
  }
  handlers.onWarn(warnings, { idleLeft, limitLeft });
}

export async function download(path, filename) {
  if (serverNow() - session.issuedAt > REFRESH_AFTER_MS) await refreshTokens();
  const response = await send("GET", path, { raw: true });
  session.lastActivity = serverNow();
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
