/** Dates and words as people read them: 2026年3月14日, not 2026-03-14. */
function day(iso) {
  if (!iso) return ''
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso))
  if (!m) return String(iso)
  return `${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日`
}

function month(isoMonth) {
  const m = /^(\d{4})-(\d{2})/.exec(String(isoMonth || ''))
  return m ? `${Number(m[1])}年${Number(m[2])}月` : ''
}

function dateTime(iso) {
  if (!iso) return ''
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return String(iso)
  // Asia/Shanghai, whatever the phone's zone: UTC+8, no daylight saving.
  const local = new Date(t.getTime() + 8 * 3600 * 1000)
  const pad = n => String(n).padStart(2, '0')
  return `${local.getUTCFullYear()}年${local.getUTCMonth() + 1}月${local.getUTCDate()}日 ${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`
}

/** Today in Asia/Shanghai as YYYY-MM-DD. */
function today() {
  const local = new Date(Date.now() + 8 * 3600 * 1000)
  return local.toISOString().slice(0, 10)
}

function addDays(isoDay, days) {
  const t = new Date(`${isoDay}T00:00:00Z`)
  t.setUTCDate(t.getUTCDate() + days)
  return t.toISOString().slice(0, 10)
}

module.exports = { day, month, dateTime, today, addDays }
