// Small DOM helpers: elements are built with textContent only (no HTML from data).

export function $(id) { return document.getElementById(id); }

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "onclick") el.addEventListener("click", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) { el.replaceChildren(...children.flat().filter(Boolean)); return el; }

const TIME = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric",
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });

export function when(iso) { return iso ? TIME.format(new Date(iso)).replaceAll("/", "-") : "—"; }
export function day(text) { return text || "—"; }

export function table(headers, rows, onRow) {
  const body = rows.map((row) => {
    const tr = h("tr", { class: onRow ? "clickable" : null }, row.cells.map((c) => h("td", {}, c)));
    if (row.id) tr.dataset.id = row.id;
    if (onRow) tr.addEventListener("click", (event) => {
      if (event.target.closest("button")) return;
      onRow(row);
    });
    return tr;
  });
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))),
    h("tbody", {}, body.length ? body : [h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "没有记录"))]));
}

let toastTimer = null;
export function toast(text, error = false) {
  const el = $("toast");
  el.textContent = text;
  el.className = error ? "toast error" : "toast";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

// A modal with a form built by the caller; resolves with what ``collect`` returns on
// 确认 (it may throw an Error to keep the dialog open), or null when cancelled.
export function ask({ title, body, confirm = "确认", danger = false, collect = () => ({}) }) {
  const dialog = $("dialog");
  $("dialog-title").textContent = title;
  clear($("dialog-body"), body);
  $("dialog-message").textContent = "";
  const button = $("dialog-confirm");
  button.textContent = confirm;
  button.className = danger ? "danger" : "primary";
  return new Promise((resolve) => {
    const form = $("dialog-form");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      $("dialog-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      try { done(collect()); } catch (error) { $("dialog-message").textContent = error.message; }
    };
    const onCancel = (event) => { event.preventDefault(); done(null); };
    form.addEventListener("submit", onSubmit);
    $("dialog-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
  });
}
