/**
 * The names of filing states as people read them. The categories, the fields each needs
 * and the 承诺书 are served by GET /v1/medical/filing-guide (the server that checks them).
 */
const STATUS_NAMES = {
  effective: '已生效', pending_review: '待审核', rejected: '未通过', cancelled: '已取消', expired: '已过期',
}

module.exports = { STATUS_NAMES }
