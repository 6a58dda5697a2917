"""infotrack: the customer-activity audit trail for CRM sales teams (客户信息跟踪系统)."""

__version__ = "0.1.0"
