// Console texts. Simplified Chinese whatever the browser says; English only when chosen.
const STORAGE_KEY = 'infotrack.lang';

// Event type codes are the server's closed set (tracking/events.py); the Chinese labels are
// the server's own, so the console and the exports name them alike.
export const EVENT_TYPES = [
  'view_detail', 'edit', 'follow_up', 'call', 'create', 'assign', 'delete', 'export', 'other',
];

const zh = {
  'app.title': 'infotrack 客户信息跟踪',
  'app.brand': '客户信息跟踪',
  'nav.records': '操作记录',
  'nav.stats': '统计',
  'nav.export': '导出',
  'nav.alerts': '告警',
  'nav.accounts': '账号',
  'header.logout': '退出',
  'header.lang': 'English',
  'login.title': '登录',
  'login.subtitle': '使用 infotrack 账号登录',
  'login.username': '用户名',
  'login.password': '密码',
  'login.submit': '登录',
  'login.busy': '正在登录…',
  'filters.phone': '客户电话',
  'filters.operator': '操作人',
  'filters.department': '部门',
  'filters.eventType': '事件类型',
  'filters.source': '客户来源',
  'filters.from': '开始日期',
  'filters.to': '结束日期',
  'filters.q': '操作内容包含',
  'filters.any': '全部',
  'filters.apply': '查询',
  'filters.reset': '重置',
  'source.wechat': '微信客户',
  'source.primary': '主库联系人',
  'event.view_detail': '查看客户详情',
  'event.edit': '修改客户信息',
  'event.follow_up': '更新客户跟进',
  'event.call': '拨打客户电话',
  'event.create': '新建客户',
  'event.assign': '转移客户',
  'event.delete': '删除客户',
  'event.export': '导出客户数据',
  'event.other': '其他操作',
  'records.title': '操作记录',
  'records.time': '操作时间',
  'records.operator': '操作人',
  'records.department': '部门',
  'records.role': '角色',
  'records.event': '事件',
  'records.customer': '客户',
  'records.source': '来源',
  'records.empty': '没有符合条件的记录',
  'records.prev': '上一页',
  'records.next': '下一页',
  'records.pageSize': '每页',
  'records.page': '第 {n} 页',
  'records.export': '导出当前结果',
  'records.changes': '修改内容',
  'timeline.title': '客户时间线',
  'timeline.back': '返回操作记录',
  'timeline.more': '加载更多',
  'timeline.end': '已显示全部记录',
  'stats.title': '统计',
  'stats.total': '操作总数',
  'stats.perDay': '日均',
  'stats.topOperator': '最活跃操作人',
  'stats.range': '统计区间',
  'stats.byDay': '每日操作数',
  'stats.byType': '按事件类型',
  'stats.byOperator': '操作人排行(前 10)',
  'stats.byDepartment': '按部门',
  'stats.heatmap': '星期 × 小时',
  'stats.data': '数据',
  'stats.key': '项目',
  'stats.count': '次数',
  'stats.unknown': '(未填写)',
  'weekday.1': '周一', 'weekday.2': '周二', 'weekday.3': '周三', 'weekday.4': '周四',
  'weekday.5': '周五', 'weekday.6': '周六', 'weekday.7': '周日',
  'export.title': '导出',
  'export.intro': '按下方条件导出操作记录,范围、脱敏与“操作记录”页一致。',
  'export.xlsx': '导出 Excel (XLSX)',
  'export.csv': '导出 CSV',
  'export.pdf': '导出 PDF',
  'export.limits': '单次导出上限:Excel 与 CSV 各 100 万行,PDF 2 万行;超出时请缩小条件。',
  'export.busy': '正在生成 {format} 文件…',
  'export.done': '已下载 {name}',
  'alerts.title': '告警',
  'alerts.status': '状态',
  'alerts.severity': '级别',
  'alerts.rule': '规则',
  'alerts.window': '时间窗口',
  'alerts.operator': '操作人',
  'alerts.department': '部门',
  'alerts.count': '次数 / 阈值',
  'alerts.actions': '处理',
  'alerts.ack': '确认',
  'alerts.resolve': '关闭',
  'alerts.records': '查看记录',
  'alerts.comment': '处理说明',
  'alerts.placeholder.ack': '例如:已与业务员核实,为月底集中回访',
  'alerts.placeholder.resolve': '例如:确认为正常业务,已处理完毕',
  'alerts.submit.ack': '确认告警',
  'alerts.submit.resolve': '关闭告警',
  'alerts.cancel': '取消',
  'alerts.commentRequired': '请填写处理说明',
  'alerts.acked': '告警 {id} 已确认',
  'alerts.resolved': '告警 {id} 已关闭',
  'alerts.ackedBy': '{name} 于 {time} 确认:',
  'alerts.resolvedBy': '{name} 于 {time} 关闭:',
  'alerts.empty': '没有符合条件的告警',
  'alert.status.open': '待处理',
  'alert.status.acknowledged': '已确认',
  'alert.status.resolved': '已关闭',
  'alert.severity.low': '低',
  'alert.severity.medium': '中',
  'alert.severity.high': '高',
  'alert.kind.burst': '短时大量操作',
  'alert.kind.distinct_customers': '短时查看大量不同客户',
  'alert.kind.off_hours': '非工作时间操作',
  'alert.kind.export_volume': '大量导出',
  'accounts.title': '账号',
  'accounts.username': '用户名',
  'accounts.name': '姓名',
  'accounts.company': '公司',
  'accounts.department': '部门',
  'accounts.organization': '组织',
  'accounts.role': '角色',
  'accounts.assistant': '协助人',
  'accounts.side': '端',
  'accounts.status': '状态',
  'accounts.password': '初始密码',
  'accounts.active': '正常',
  'accounts.disabled': '已停用',
  'accounts.disable': '停用',
  'accounts.enable': '启用',
  'accounts.add': '添加账号',
  'accounts.added': '已添加账号 {username}',
  'accounts.confirmDisable': '确定停用账号 {username}?停用后其登录立即失效。',
  'side.supply': '供应端',
  'side.sales': '销售端',
  'common.loading': '加载中…',
  'common.retry': '重试',
  'error.network': '无法连接服务器,请检查网络',
  'error.http': '请求失败(HTTP {status})',
};

const en = {
  'app.title': 'infotrack customer activity',
  'app.brand': 'Customer activity',
  'nav.records': 'Records',
  'nav.stats': 'Statistics',
  'nav.export': 'Export',
  'nav.alerts': 'Alerts',
  'nav.accounts': 'Accounts',
  'header.logout': 'Sign out',
  'header.lang': '中文',
  'login.title': 'Sign in',
  'login.subtitle': 'Sign in with your infotrack account',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.busy': 'Signing in…',
  'filters.phone': 'Customer phone',
  'filters.operator': 'Operator',
  'filters.department': 'Department',
  'filters.eventType': 'Event type',
  'filters.source': 'Customer source',
  'filters.from': 'From',
  'filters.to': 'To',
  'filters.q': 'Event text contains',
  'filters.any': 'All',
  'filters.apply': 'Search',
  'filters.reset': 'Reset',
  'source.wechat': 'WeChat customer',
  'source.primary': 'Primary contact',
  'event.view_detail': 'Viewed details',
  'event.edit': 'Edited',
  'event.follow_up': 'Followed up',
  'event.call': 'Called',
  'event.create': 'Created',
  'event.assign': 'Reassigned',
  'event.delete': 'Deleted',
  'event.export': 'Exported',
  'event.other': 'Other',
  'records.title': 'Records',
  'records.time': 'Time',
  'records.operator': 'Operator',
  'records.department': 'Department',
  'records.role': 'Role',
  'records.event': 'Event',
  'records.customer': 'Customer',
  'records.source': 'Source',
  'records.empty': 'No records match',
  'records.prev': 'Previous',
  'records.next': 'Next',
  'records.pageSize': 'Per page',
  'records.page': 'Page {n}',
  'records.export': 'Export these results',
  'records.changes': 'Changes',
  'timeline.title': 'Customer timeline',
  'timeline.back': 'Back to records',
  'timeline.more': 'Load more',
  'timeline.end': 'All records shown',
  'stats.title': 'Statistics',
  'stats.total': 'Events',
  'stats.perDay': 'Per day',
  'stats.topOperator': 'Most active',
  'stats.range': 'Range',
  'stats.byDay': 'Events per day',
  'stats.byType': 'By event type',
  'stats.byOperator': 'Top 10 operators',
  'stats.byDepartment': 'By department',
  'stats.heatmap': 'Weekday × hour',
  'stats.data': 'Data',
  'stats.key': 'Item',
  'stats.count': 'Count',
  'stats.unknown': '(blank)',
  'weekday.1': 'Mon', 'weekday.2': 'Tue', 'weekday.3': 'Wed', 'weekday.4': 'Thu',
  'weekday.5': 'Fri', 'weekday.6': 'Sat', 'weekday.7': 'Sun',
  'export.title': 'Export',
  'export.intro': 'Export the records matching these filters, with the same scope and masking as Records.',
  'export.xlsx': 'Excel (XLSX)',
  'export.csv': 'CSV',
  'export.pdf': 'PDF',
  'export.limits': 'At most 1,000,000 rows for Excel and CSV and 20,000 for PDF; narrow the filters beyond that.',
  'export.busy': 'Building the {format} file…',
  'export.done': 'Downloaded {name}',
  'alerts.title': 'Alerts',
  'alerts.status': 'Status',
  'alerts.severity': 'Severity',
  'alerts.rule': 'Rule',
  'alerts.window': 'Window',
  'alerts.operator': 'Operator',
  'alerts.department': 'Department',
  'alerts.count': 'Count / threshold',
  'alerts.actions': 'Handling',
  'alerts.ack': 'Acknowledge',
  'alerts.resolve': 'Resolve',
  'alerts.records': 'View records',
  'alerts.comment': 'Comment',
  'alerts.placeholder.ack': 'e.g. checked with the salesperson: month-end follow-up calls',
  'alerts.placeholder.resolve': 'e.g. normal business, handled',
  'alerts.submit.ack': 'Acknowledge alert',
  'alerts.submit.resolve': 'Resolve alert',
  'alerts.cancel': 'Cancel',
  'alerts.commentRequired': 'Please enter a comment',
  'alerts.acked': 'Alert {id} acknowledged',
  'alerts.resolved': 'Alert {id} resolved',
  'alerts.ackedBy': 'Acknowledged by {name} at {time}: ',
  'alerts.resolvedBy': 'Resolved by {name} at {time}: ',
  'alerts.empty': 'No alerts match',
  'alert.status.open': 'Open',
  'alert.status.acknowledged': 'Acknowledged',
  'alert.status.resolved': 'Resolved',
  'alert.severity.low': 'Low',
  'alert.severity.medium': 'Medium',
  'alert.severity.high': 'High',
  'alert.kind.burst': 'Burst of operations',
  'alert.kind.distinct_customers': 'Many different customers',
  'alert.kind.off_hours': 'Outside working hours',
  'alert.kind.export_volume': 'Large exports',
  'accounts.title': 'Accounts',
  'accounts.username': 'Username',
  'accounts.name': 'Name',
  'accounts.company': 'Company',
  'accounts.department': 'Department',
  'accounts.organization': 'Organization',
  'accounts.role': 'Role',
  'accounts.assistant': 'Assistant',
  'accounts.side': 'Side',
  'accounts.status': 'Status',
  'accounts.password': 'Initial password',
  'accounts.active': 'Active',
  'accounts.disabled': 'Disabled',
  'accounts.disable': 'Disable',
  'accounts.enable': 'Enable',
  'accounts.add': 'Add account',
  'accounts.added': 'Account {username} added',
  'accounts.confirmDisable': 'Disable {username}? Their sessions stop working at once.',
  'side.supply': 'Supply side',
  'side.sales': 'Sales side',
  'common.loading': 'Loading…',
  'common.retry': 'Retry',
  'error.network': 'Cannot reach the server; check the network',
  'error.http': 'Request failed (HTTP {status})',
};

const TEXTS = { zh, en };
let lang = readLang();

function readLang() {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'zh';
  } catch {
    return 'zh';
  }
}

/** The current language, `zh` or `en`. */
export function currentLang() {
  return lang;
}

/** Switch and remember the language (the caller re-renders). */
export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Private mode: the switch still holds for this page.
  }
  applyDocumentLang();
}

/** Set `<html lang>` and the title to the current language. */
export function applyDocumentLang() {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.title');
}

/** The text for `key`, with `{name}` placeholders filled in. */
export function t(key, params) {
  const text = TEXTS[lang][key] ?? zh[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : ''));
}

/** The label of an event type code (unknown codes are shown as they are). */
export function eventLabel(code) {
  return code && TEXTS[lang][`event.${code}`] ? t(`event.${code}`) : code || '';
}

/** A source code's label. */
export function sourceLabel(code) {
  return code ? t(`source.${code}`) : '';
}

/** An alert's status, severity or kind label (`group`); the server's label, else the code,
 *  for a value this console does not know yet (a rule kind added later, say). */
export function alertLabel(group, code, fallback) {
  const key = `alert.${group}.${code}`;
  return TEXTS[lang][key] ? t(key) : fallback || code || '';
}
