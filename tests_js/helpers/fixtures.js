/**
 * Where the journeys start: people put into the registry the way the registry system
 * does (POST /v1/registry/people with a service key), cards made the way card makers
 * report them (POST /v1/cards/feed/issuance), and a 12333 agent at the bank window
 * (console login with password and TOTP). Nothing is written to the database directly.
 */
const crypto = require('crypto')
const { state, request } = require('./http')
const rules = require('./rules')

function randomInt(min, max) {
  return min + crypto.randomInt(max - min + 1)
}

/** A mainland mobile number nobody else in this run has. */
function newPhone() {
  return `139${String(randomInt(0, 99999999)).padStart(8, '0')}`
}

/**
 * A registry person. Hohhot 新城区 (150102) and living there by default: a retiree with a
 * 12-month certification cycle (domain rules §1: 12 months for people living locally).
 */
async function newPerson({ name = '张建国', region = '150102', personType = 'retiree', phone = newPhone(),
  born = null, firstPaymentDate = '' } = {}) {
  const birth = born || `19${randomInt(40, 59)}${String(randomInt(1, 12)).padStart(2, '0')}${String(randomInt(1, 28)).padStart(2, '0')}`
  const idNumber = rules.idNumber(region, birth, randomInt(1, 999))
  const { serviceKey, baseUrl } = state()
  const answer = await request('POST', `${baseUrl}/v1/registry/people`, {
    headers: { 'X-Service-Key': serviceKey },
    json: {
      id_number: idNumber, name, region_code: region, person_type: personType, phone,
      lives_outside_region: 'false', monthly_pension_fen: personType === 'retiree' ? '356000' : '',
      first_payment_date: firstPaymentDate,
    },
  })
  if (answer.status !== 200) throw new Error(`registry feed refused the person: ${answer.status} ${answer.text}`)
  return { personId: answer.json.person_id, idNumber, name, phone, region, personType }
}

/** A card made for the person, step by step as the card maker, bank and outlet report it. */
async function feedCard(person, cardNumber = `6217${String(randomInt(0, 999999999999)).padStart(12, '0')}`) {
  const { serviceKey, baseUrl } = state()
  const steps = ['data_entered', 'paid', 'making', 'city_bank_received', 'outlet_received', 'collected_inactive']
  let day = 1
  for (const step of steps) {
    const answer = await request('POST', `${baseUrl}/v1/cards/feed/issuance`, {
      headers: { 'X-Service-Key': serviceKey },
      json: {
        record_id: `jest-${cardNumber}-${step}`, id_number: person.idNumber, card_number: cardNumber, step,
        at: `2026-01-${String(day).padStart(2, '0')}T09:00:00+08:00`,
      },
    })
    if (answer.status !== 200) throw new Error(`card feed refused ${step}: ${answer.status} ${answer.text}`)
    day += 2
  }
  return cardNumber
}

// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) from the base32 secret create-agent printed.
function base32(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const bytes = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const mac = crypto.createHmac('sha1', base32(secret)).update(counter).digest()
  const offset = mac[mac.length - 1] & 0xf
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000
  return String(code).padStart(6, '0')
}

let agentToken = null

/** The agent's access token (one console login per test file: a TOTP code works once). */
async function agent() {
  if (agentToken) return agentToken
  const { baseUrl, agent: a } = state()
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await request('POST', `${baseUrl}/v1/console/login`, {
      json: { username: a.username, password: a.password, totp: totp(a.totpSecret) },
    })
    if (answer.status === 200) {
      agentToken = answer.json.access_token
      return agentToken
    }
    // The code of this 30 s window was used already (another file logged in): next window.
    await new Promise(r => setTimeout(r, 31000 - (Date.now() % 30000)))
  }
  throw new Error('the agent could not log in to the console')
}

/** The agent activates the person's new card at the bank window (封存 → 正常). */
async function activateCard(person) {
  const { baseUrl } = state()
  const token = await agent()
  const auth = { Authorization: `Bearer ${token}` }
  const list = await request('GET', `${baseUrl}/v1/cards?person_id=${person.personId}`, { headers: auth })
  if (list.status !== 200 || !list.json.cards.length) throw new Error(`no card to activate: ${list.text}`)
  const cardId = list.json.cards[0].card_id
  const card = await request('GET', `${baseUrl}/v1/cards/${cardId}`, { headers: auth })
  const activated = await request('POST', `${baseUrl}/v1/cards/${cardId}/activate`, {
    headers: Object.assign({ 'If-Match': card.headers.etag }, auth), json: {},
  })
  if (activated.status !== 200) throw new Error(`activation refused: ${activated.status} ${activated.text}`)
  return cardId
}

/** SMS the Aliyun stand-in received for a phone, newest last. */
async function smsTo(phone) {
  const { aliyunUrl } = state()
  const answer = await request('GET', `${aliyunUrl}/_control/messages?phone=${phone}`)
  return answer.json.messages
}

/** The verification code of the newest code SMS to `phone` after `after` of them. */
async function smsCode(phone, { after = 0, timeoutMs = 100000 } = {}) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const messages = (await smsTo(phone)).filter(m => m.params && m.params.code)
    if (messages.length > after) return String(messages[messages.length - 1].params.code)
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error(`no SMS code reached ${phone}`)
}

module.exports = { newPhone, newPerson, feedCard, activateCard, agent, totp, smsTo, smsCode }
