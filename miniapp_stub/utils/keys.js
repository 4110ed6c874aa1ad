/**
 * Idempotency-Key values: one per action the person starts, reused when the same
 * action is retried (a retry then gets the first answer instead of a second record).
 * The server takes 8–128 printable ASCII characters, and keeps keys per account.
 */
let counter = 0

function randomPart() {
  let out = ''
  for (let i = 0; i < 3; i++) out += Math.floor(Math.random() * 0x100000000).toString(36)
  return out
}

function newKey(prefix = 'mp') {
  counter += 1
  return `${prefix}-${Date.now().toString(36)}-${counter.toString(36)}-${randomPart()}`.slice(0, 120)
}

module.exports = { newKey }
