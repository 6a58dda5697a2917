"""``informationtra``: the seed's operation-record table, plus the nullable columns we add.

The seed's DDL is the contract (it is an existing table in the user's MySQL); columns below
the marker are ours, all nullable so the CRM's own writers keep working. The seed's cascading
FK to ``users`` is deliberately absent (see DESIGN.md §1).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text
from sqlalchemy.types import TypeEngine

from infotrack.db import MYSQL_TABLE_OPTIONS, metadata


def _exact(length: int) -> TypeEngine[str]:
    return String(length).with_variant(String(length, collation="utf8mb4_bin"), "mysql", "mariadb")


informationtra = Table(
    "informationtra",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, comment="主键ID"),
    Column("tracompany", String(255), comment="修改者公司"),
    Column("tradepartment", String(255), comment="修改者部门"),
    Column("traorganization", String(255), comment="修改者组织"),
    Column("trarole", String(255), comment="修改者角色"),
    Column("trauserName", String(100), comment="修改者名字"),
    Column("traassistant", String(100), comment="修改协助人"),
    Column("userId", String(100), nullable=False, comment="客户ID"),
    Column("operationEvent", Text, comment="操作事件"),
    Column("operationTime", DateTime, comment="操作时间"),
    Column("created_at", DateTime, comment="创建时间"),
    Column("updated_at", DateTime, comment="更新时间"),
    # --- added by infotrack (nullable) ---
    Column("event_type", String(32), comment="事件类型代码"),
    Column("customer_source", String(16), comment="客户来源: wechat | primary"),
    Column("side", String(16), comment="supply | sales"),
    # Keys compared byte for byte on MySQL too (see migration 0002).
    Column("operator_id", _exact(128), comment="操作人稳定ID"),
    Column("request_id", _exact(64), comment="幂等请求ID"),
    Column("client_addr", String(45), comment="客户端地址"),
    Column("changes", Text, comment="修改明细 JSON"),
    # Tamper evidence (migration 0006, see infotrack.audit.chain): NULL on the CRM's own rows.
    Column("chain_id", Integer, comment="防篡改链ID"),
    Column("chain_seq", BigInteger, comment="链内序号"),
    Column("chain_prev", String(64), comment="上一行的链哈希"),
    Column("chain_hash", String(64), comment="本行的链哈希"),
    Index("idx_userId", "userId"),
    Index("idx_operationTime", "operationTime"),
    Index("idx_trauserName", "trauserName"),
    Index("uq_informationtra_request", "request_id", "operator_id", unique=True),
    Index("uq_informationtra_chain", "chain_id", "chain_seq", unique=True),
    # Read side (migration 0004): each leads with a filter and ends with the sort key.
    Index("ix_informationtra_operator_time", "operator_id", "operationTime"),
    Index("ix_informationtra_name_time", "trauserName", "operationTime"),
    Index("ix_informationtra_dept_time", "tracompany", "tradepartment", "operationTime"),
    Index("ix_informationtra_user_time", "userId", "operationTime"),
    Index("ix_informationtra_type_time", "event_type", "operationTime"),
    Index(
        "ix_informationtra_time_stats",
        "operationTime",
        "event_type",
        "customer_source",
        "trauserName",
        "tradepartment",
    ),
    comment="信息跟踪表",
    sqlite_autoincrement=True,  # ids are never reused: tails and audits rely on it
    **MYSQL_TABLE_OPTIONS,
)

# The seed's own columns, in DDL order: what the CRM's writers fill in.
SEED_COLUMNS = (
    "id",
    "tracompany",
    "tradepartment",
    "traorganization",
    "trarole",
    "trauserName",
    "traassistant",
    "userId",
    "operationEvent",
    "operationTime",
    "created_at",
    "updated_at",
)
