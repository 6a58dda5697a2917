"""Bodies of the account administration endpoints (camelCase, like the rest of the API)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Column widths of infotrack_accounts: MySQL would refuse longer values.
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]


class NewAccount(BaseModel):
    """``{"username", "password", "name", "company"?, "department"?, "organization"?,
    "role", "assistant"?, "side"?}``; other keys are ignored.

    Username, password and side are checked by the account service itself, so their refusals
    keep the codes the CLI gives (invalid_username, weak_password, invalid_side).
    """

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "username": "zhangwei",
                    "password": "至少八个字符的密码",
                    "name": "张伟",
                    "department": "销售一部",
                    "organization": "华东大区",
                    "role": "业务员",
                    "assistant": "李娜",
                    "side": "supply",
                }
            ]
        },
    )

    username: str = Field(description="用户名:字母、数字和 _ . @ -,2–64 个字符")
    password: str = Field(max_length=256, description="密码,至少 8 个字符")
    name: Annotated[Text100, Field(min_length=1, description="姓名")]
    company: Text255 | None = Field(default=None, description="公司;非系统管理员只能是本公司")
    department: Text255 | None = Field(default=None, description="部门")
    organization: Text255 | None = Field(default=None, description="组织")
    role: Annotated[Text255, Field(min_length=1, description="角色,如 业务员 / 经理 / 管理员")]
    assistant: Text100 | None = Field(default=None, description="协助人")
    side: str = Field(default="supply", description="supply(供应端)或 sales(销售端)")

    @field_validator("company", "department", "organization", "assistant")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class AccountData(BaseModel):
    """An account as the console shows it (never its password hash or token version)."""

    id: int
    username: str
    name: str | None
    company: str | None
    department: str | None
    organization: str | None
    role: str | None
    assistant: str | None
    side: str
    disabled: bool
    createdAt: str = Field(description="ISO 8601,带时区偏移")
    updatedAt: str = Field(description="ISO 8601,带时区偏移")


class AccountList(BaseModel):
    """``{"items": [...]}``, oldest first."""

    items: list[AccountData]


class AccountListResponse(BaseModel):
    """``{"success": true, "data": {"items": [...]}}``."""

    success: bool = True
    data: AccountList


class AccountResponse(BaseModel):
    """``{"success": true, "message", "data": <account>}``."""

    success: bool = True
    message: str
    data: AccountData
