"""The ORM models: what the schema ought to look like at the newest revision."""

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from alembic_stuff.db.base import Base


class Country(Base):
    """A country as ISO 3166-1 defines it."""

    __tablename__ = "country"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Z]{2}$'", name="code_is_alpha_2"),
        CheckConstraint("alpha_3 ~ '^[A-Z]{3}$'", name="alpha_3_is_alpha_3"),
        CheckConstraint("numeric_code ~ '^[0-9]{3}$'", name="numeric_code_is_3_digits"),
    )

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    alpha_3: Mapped[str] = mapped_column(String(3), unique=True)
    numeric_code: Mapped[str] = mapped_column(String(3), unique=True)
    common_name: Mapped[str] = mapped_column(String(100))
    official_name: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"Country(code={self.code!r}, common_name={self.common_name!r})"
