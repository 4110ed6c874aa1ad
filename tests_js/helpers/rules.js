/**
 * The domain rules the journeys check against, written here from
 * ../shared/docs/domain-rules.md (never copied from the code under test).
 */

// §7 GB 11643-1999: weights for positions 1–17; sum mod 11 maps to 1 0 X 9 8 7 6 5 4 3 2.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2']

function checkCharacter(first17) {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]
  return CHECK[sum % 11]
}

/** An ID number: region, birth date (YYYYMMDD), 3-digit sequence (odd: men, even: women). */
function idNumber(region, birth, sequence) {
  const first17 = `${region}${birth}${String(sequence).padStart(3, '0')}`
  return first17 + checkCharacter(first17)
}

// §1 "A certification on date C with a cycle of L months is valid through the day before
// C + L months. When the day does not exist in that month, take its last day."
function validThrough(certifiedOn, months) {
  const [y, m, d] = certifiedOn.split('-').map(Number)
  const monthIndex = (m - 1) + months
  const year = y + Math.floor(monthIndex / 12)
  const month = monthIndex % 12 // 0-based
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
  const plus = new Date(Date.UTC(year, month, Math.min(d, lastDay)))
  plus.setUTCDate(plus.getUTCDate() - 1)
  return plus.toISOString().slice(0, 10)
}

/** §1 Time zone: days are Asia/Shanghai calendar days (UTC+8, no daylight saving). */
function todayInShanghai(now = Date.now()) {
  return new Date(now + 8 * 3600 * 1000).toISOString().slice(0, 10)
}

function addMonths(isoDay, months) {
  // the same calendar arithmetic as validThrough, without the "day before"
  const [y, m, d] = isoDay.split('-').map(Number)
  const monthIndex = (m - 1) + months
  const year = y + Math.floor(monthIndex / 12)
  const month = monthIndex % 12
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
  return new Date(Date.UTC(year, month, Math.min(d, lastDay))).toISOString().slice(0, 10)
}

function addDays(isoDay, days) {
  const t = new Date(`${isoDay}T00:00:00Z`)
  t.setUTCDate(t.getUTCDate() + days)
  return t.toISOString().slice(0, 10)
}

/** 2026-03-14 → 2026年3月14日, how the pages write a day. */
function chineseDay(isoDay) {
  const [y, m, d] = isoDay.split('-').map(Number)
  return `${y}年${m}月${d}日`
}

// §6 masking: ID numbers as 1501**********1234, phones as 138****5678.
function maskedIdNumber(id) {
  return `${id.slice(0, 4)}${'*'.repeat(id.length - 8)}${id.slice(-4)}`
}

function maskedPhone(phone) {
  return `${phone.slice(0, 3)}****${phone.slice(-4)}`
}

// WCAG 2.x relative luminance and contrast ratio (the elder-mode rule: ≥ 4.5:1).
function parseColor(text) {
  const m = /rgba?\(\s*(\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\s*\)/.exec(String(text || ''))
  if (m) return { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] }
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(text || '').trim())
  if (hex) {
    const h = hex[1].length === 3 ? hex[1].split('').map(c => c + c).join('') : hex[1]
    return { r: parseInt(h.slice(0, 2), 16), g: parseInt(h.slice(2, 4), 16), b: parseInt(h.slice(4, 6), 16), a: 1 }
  }
  if (String(text).trim() === 'white') return { r: 255, g: 255, b: 255, a: 1 }
  if (String(text).trim() === 'black') return { r: 0, g: 0, b: 0, a: 1 }
  return null
}

function luminance({ r, g, b }) {
  const lin = c => {
    const s = c / 255
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return (hi + 0.05) / (lo + 0.05)
}

// §4 card statuses.
const CARD_STATUS = { normal: '正常', temp_loss: '临时挂失', sealed: '封存', formal_loss: '正式挂失', cancelled: '注销' }

module.exports = {
  checkCharacter, idNumber, validThrough, todayInShanghai, addMonths, addDays, chineseDay,
  maskedIdNumber, maskedPhone, parseColor, contrast, CARD_STATUS,
}
