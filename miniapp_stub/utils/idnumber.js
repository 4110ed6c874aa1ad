/**
 * Citizen ID numbers (GB 11643-1999): 6 digits of region, 8 of birth date, 3 of
 * sequence, then a check character from the weighted sum of the first 17 digits.
 * Checked on the phone only to catch typing mistakes early; the server decides.
 */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = '10X98765432'

function checkCharacter(first17) {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]
  return CHECK[sum % 11]
}

function birthDateOk(digits) {
  const y = Number(digits.slice(0, 4))
  const m = Number(digits.slice(4, 6))
  const d = Number(digits.slice(6, 8))
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate()
  return d <= last
}

function isValid(value) {
  const id = String(value || '').trim().toUpperCase()
  if (!/^\d{17}[\dX]$/.test(id)) return false
  if (!birthDateOk(id.slice(6, 14))) return false
  return checkCharacter(id.slice(0, 17)) === id[17]
}

module.exports = { isValid, checkCharacter }
