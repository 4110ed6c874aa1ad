/**
 * 异地就医备案: my filings, and a new one: pick the category, fill what it needs, read
 * and sign the personal commitment (承诺书), submit (POST /v1/medical/filings with an
 * Idempotency-Key). The certificate, changes and cancelling are on pages/filing-detail.
 *
 * The categories, the fields each needs and the 承诺书 come from the server that checks
 * them (GET /v1/medical/filing-guide); the letter's version goes back with the filing,
 * so the person signs exactly the text shown.
 */

/** The guide's categories in the page's shape. */
function categoriesOf(guide) {
  return guide.categories.map(c => ({
    value: c.category, name: c.name, who: c.who, longTerm: c.long_term, commitment: c.commitment,
    fields: c.fields.map(f => ({ name: f.field, label: f.label, placeholder: f.placeholder, required: f.required })),
  }))
}
const api = require('../../api/client')
const fmt = require('../../utils/format')
const keys = require('../../utils/keys')
const { PROVINCES } = require('../../data/regions')
const { STATUS_NAMES } = require('../../data/filing')
const pageBehavior = require('../../behaviors/page')

Component({
  behaviors: [pageBehavior],

  data: {
    step: 'list', // list → category → details → commitment → (detail page)
    filings: [],
    categories: [],
    category: null,
    fields: [],
    provinceNames: PROVINCES.map(p => p[1]),
    cityNames: [],
    provinceIndex: -1,
    cityIndex: -1,
    form: { start_date: '', hospital: '', referring_hospital: '', transfer_reference: '', employer: '' },
    earliest: '',
    latest: '',
    commitmentLines: [], // the title, then the paragraphs
    commitmentText: '',
    commitmentVersion: '',
    signed: false,
    key: '',
    loaded: false,
  },

  methods: {
    onLoad() {
      this.syncShared()
      const today = fmt.today()
      this.setData({
        earliest: fmt.addDays(today, -365), latest: fmt.addDays(today, 90), 'form.start_date': today,
      })
      return this.load()
    },

    async load() {
      try {
        const list = await api.filings.list(this.subjectPersonId())
        this.setData({
          loaded: true,
          filings: list.filings.map(f => Object.assign({}, f, {
            statusName: STATUS_NAMES[f.status] || f.status,
            until: f.end_date ? `到 ${fmt.day(f.end_date)}` : '长期有效',
          })),
        })
      } catch (err) {
        this.showError(err)
        this.setData({ loaded: true })
      }
    },

    /** The guide from the server; only a new filing waits for it (the list does not). */
    async loadGuide() {
      const guide = await api.filings.guide()
      const letter = [guide.commitment.title].concat(guide.commitment.paragraphs)
      this.setData({
        categories: categoriesOf(guide), commitmentLines: letter,
        commitmentText: letter.join(''), commitmentVersion: guide.commitment.version,
      })
    },

    async onNew() {
      this.clearNotice()
      await this.guarded(async () => {
        if (!this.data.categories.length) await this.loadGuide()
        this.setData({ step: 'category', key: '', signed: false })
      })
    },

    onOpen(e) {
      wx.navigateTo({ url: `/pages/filing-detail/index?id=${e.currentTarget.dataset.id}` })
    },

    onCategory(e) {
      const category = this.data.categories.find(c => c.value === e.currentTarget.dataset.value)
      this.setData({ category, step: 'details', key: '', signed: false, fields: category.fields })
    },

    onProvince(e) {
      const provinceIndex = Number(e.detail.value)
      const cities = PROVINCES[provinceIndex][2]
      this.setData({
        provinceIndex, cityNames: cities.map(c => c[1]), cityIndex: cities.length === 1 ? 0 : -1, key: '',
      })
    },

    onCity(e) {
      this.setData({ cityIndex: Number(e.detail.value), key: '' })
    },

    onStartDate(e) {
      this.setData({ 'form.start_date': e.detail.value, key: '' })
    },

    onBack(e) {
      this.clearNotice()
      this.setData({ step: e.currentTarget.dataset.step })
    },

    /** The details are complete: the commitment next, or straight to submitting. */
    onDetailsDone() {
      const problem = this.missing()
      if (problem) {
        this.showError({ message: problem })
        return
      }
      this.clearNotice()
      if (this.data.category.commitment) this.setData({ step: 'commitment' })
      else this.submit()
    },

    missing() {
      if (this.data.provinceIndex < 0 || this.data.cityIndex < 0) return '请选择要去看病的省和市。'
      if (!this.data.form.start_date) return '请选择开始日期。'
      for (const field of this.data.fields) {
        if (field.required && !String(this.data.form[field.name] || '').trim()) return `请填写：${field.label}。`
      }
      return ''
    },

    onSign() {
      this.setData({ signed: !this.data.signed, key: '' })
    },

    onSubmitSigned() {
      if (!this.data.signed) {
        this.showError({ message: '请先读完承诺书，点“我已阅读并承诺”，再提交。' })
        return
      }
      this.submit()
    },

    request() {
      const category = this.data.category
      const province = PROVINCES[this.data.provinceIndex]
      const city = province[2][this.data.cityIndex]
      const body = {
        person_id: this.subjectPersonId(),
        category: category.value,
        destination: { province_code: province[0], city_code: city[0] },
        start_date: this.data.form.start_date,
      }
      for (const field of this.data.fields) {
        const value = String(this.data.form[field.name] || '').trim()
        if (value) body[field.name] = value
      }
      if (category.commitment) body.commitment = { accepted: true, version: this.data.commitmentVersion }
      return body
    },

    async submit() {
      await this.guarded(async () => {
        const key = this.data.key || keys.newKey('filing')
        this.setData({ key })
        let created
        try {
          created = await api.filings.create(this.request(), key)
        } catch (err) {
          if (err.field === 'commitment.version') {
            // The letter changed while it was on screen: the new text, to read and sign again.
            await this.loadGuide()
            this.setData({ step: 'commitment', signed: false, key: '' })
          }
          throw err
        }
        this.setData({ key: '', step: 'list' })
        wx.navigateTo({ url: `/pages/filing-detail/index?id=${created.data.filing_id}&created=1` })
        return created.data
      })
    },
  },
})
