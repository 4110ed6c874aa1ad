/**
 * 异地就医备案 categories (医保发〔2022〕22号 Art. 7) and what each needs, as the API
 * contract describes the fields of FilingRequest (types.d.ts): the destination and the
 * start date always; a hospital for referrals and emergencies; the referring hospital for
 * referrals (without the transfer reference the filing waits for review); the employer
 * for work elsewhere; the personal commitment (承诺书) for the long-term categories and
 * other temporary trips. The API has no route that lists them, so they ship here.
 */
const CATEGORIES = [
  {
    value: 'resettled_retiree', name: '异地安置退休', longTerm: true, commitment: true,
    who: '退休后户籍迁到外地，或在外地长期生活的退休人员', fields: [],
  },
  {
    value: 'long_term_resident', name: '异地长期居住', longTerm: true, commitment: true,
    who: '在外地长期居住（一般半年以上）的参保人', fields: [],
  },
  {
    value: 'work_elsewhere', name: '常驻异地工作', longTerm: true, commitment: true,
    who: '单位派到外地长期工作的参保人', fields: ['employer'],
  },
  {
    value: 'referral', name: '异地转诊', longTerm: false, commitment: false,
    who: '本地医院开了转诊证明，要到外地医院看病', fields: ['hospital', 'referring_hospital', 'transfer_reference'],
  },
  {
    value: 'emergency', name: '急诊抢救', longTerm: false, commitment: false,
    who: '在外地突发疾病急诊、抢救', fields: ['hospital'],
  },
  {
    value: 'temporary_trip', name: '其他临时外出', longTerm: false, commitment: true,
    who: '出门探亲、旅游等临时在外地，可能要看病', fields: [],
  },
]

const FIELD_LABELS = {
  hospital: { label: '就医的医院', placeholder: '例如：广州市第一人民医院', required: true },
  referring_hospital: { label: '开转诊证明的医院', placeholder: '本地转出的医院', required: true },
  transfer_reference: { label: '转诊证明编号（没有可以先不填，备案会等工作人员审核）', placeholder: '转诊单上的编号', required: false },
  employer: { label: '工作单位', placeholder: '单位全称', required: true },
}

const COMMITMENT = [
  '个人承诺书',
  '本人承诺：所填写的异地居住、工作或外出情况真实。',
  '本人知道：用承诺书代替居住证明办理备案，如情况不实，要退回医保基金支付的费用，并承担相应责任。',
  '本人会在情况变化时及时变更或取消备案。',
]

const STATUS_NAMES = {
  effective: '已生效', pending_review: '待审核', rejected: '未通过', cancelled: '已取消', expired: '已过期',
}

module.exports = { CATEGORIES, FIELD_LABELS, COMMITMENT, STATUS_NAMES }
