"""Add the ISO 3166-1 alpha-3, numeric and official-name columns, filled in from ISO data.

A schema change and a data migration in one revision: the columns are added nullable, every
existing row is completed from ISO 3166 in one set-based UPDATE, and only then are the
columns made NOT NULL and unique. The UPDATE is written against an `sa.table()` snapshot of
the table as it is at this revision, never against today's ORM model, which will have moved
on; and from ISO data frozen below, never from a library whose data will move on too.

Revision ID: 9c4d7e2f1b38
Revises: 5b2e0c1d9a47
Create Date: 2026-11-25 21:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "9c4d7e2f1b38"
down_revision: str | Sequence[str] | None = "5b2e0c1d9a47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table as this revision knows it, for the UPDATE below.
country = sa.table(
    "country",
    sa.column("code", sa.String),
    sa.column("alpha_3", sa.String),
    sa.column("numeric_code", sa.String),
    sa.column("official_name", sa.String),
)

# Checked by `pipenv run migrations-check`: the data this revision destroys, and why.
destroys_data = {
    "downgrade: drop_column country.alpha_3": "ISO 3166 data: the upgrade recomputes it",
    "downgrade: drop_column country.numeric_code": "ISO 3166 data: the upgrade recomputes it",
    "downgrade: drop_column country.official_name": (
        "the upgrade recomputes it from ISO 3166; edits made through PATCH are lost"
    ),
}
# Checked by `pipenv run migrations-lint`: squawk rules this revision breaks, and why.
squawk_accepts = {
    "adding-not-nullable-field": "country has at most 249 rows: the scan takes milliseconds",
    "constraint-missing-not-valid": "country has at most 249 rows: the scan takes milliseconds",
    "disallowed-unique-constraint": "country has at most 249 rows: the index builds at once",
}

# ISO 3166-1 as this revision knew it (pycountry 26.2.16), frozen: a revision must give the
# same result forever, whatever a later ISO 3166 or pycountry says. A row whose code is not
# here is refused (_refuse_unknown_codes), as it was when the data came from pycountry.
# (alpha-2 code, alpha-3 code, numeric code, official name or None)
ISO_3166_1: tuple[tuple[str, str, str, str | None], ...] = (
    ("AD", "AND", "020", "Principality of Andorra"),
    ("AE", "ARE", "784", None),
    ("AF", "AFG", "004", "Islamic Republic of Afghanistan"),
    ("AG", "ATG", "028", None),
    ("AI", "AIA", "660", None),
    ("AL", "ALB", "008", "Republic of Albania"),
    ("AM", "ARM", "051", "Republic of Armenia"),
    ("AO", "AGO", "024", "Republic of Angola"),
    ("AQ", "ATA", "010", None),
    ("AR", "ARG", "032", "Argentine Republic"),
    ("AS", "ASM", "016", None),
    ("AT", "AUT", "040", "Republic of Austria"),
    ("AU", "AUS", "036", None),
    ("AW", "ABW", "533", None),
    ("AX", "ALA", "248", None),
    ("AZ", "AZE", "031", "Republic of Azerbaijan"),
    ("BA", "BIH", "070", "Republic of Bosnia and Herzegovina"),
    ("BB", "BRB", "052", None),
    ("BD", "BGD", "050", "People's Republic of Bangladesh"),
    ("BE", "BEL", "056", "Kingdom of Belgium"),
    ("BF", "BFA", "854", None),
    ("BG", "BGR", "100", "Republic of Bulgaria"),
    ("BH", "BHR", "048", "Kingdom of Bahrain"),
    ("BI", "BDI", "108", "Republic of Burundi"),
    ("BJ", "BEN", "204", "Republic of Benin"),
    ("BL", "BLM", "652", None),
    ("BM", "BMU", "060", None),
    ("BN", "BRN", "096", None),
    ("BO", "BOL", "068", "Plurinational State of Bolivia"),
    ("BQ", "BES", "535", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "BRA", "076", "Federative Republic of Brazil"),
    ("BS", "BHS", "044", "Commonwealth of the Bahamas"),
    ("BT", "BTN", "064", "Kingdom of Bhutan"),
    ("BV", "BVT", "074", None),
    ("BW", "BWA", "072", "Republic of Botswana"),
    ("BY", "BLR", "112", "Republic of Belarus"),
    ("BZ", "BLZ", "084", None),
    ("CA", "CAN", "124", None),
    ("CC", "CCK", "166", None),
    ("CD", "COD", "180", None),
    ("CF", "CAF", "140", None),
    ("CG", "COG", "178", "Republic of the Congo"),
    ("CH", "CHE", "756", "Swiss Confederation"),
    ("CI", "CIV", "384", "Republic of Côte d'Ivoire"),
    ("CK", "COK", "184", None),
    ("CL", "CHL", "152", "Republic of Chile"),
    ("CM", "CMR", "120", "Republic of Cameroon"),
    ("CN", "CHN", "156", "People's Republic of China"),
    ("CO", "COL", "170", "Republic of Colombia"),
    ("CR", "CRI", "188", "Republic of Costa Rica"),
    ("CU", "CUB", "192", "Republic of Cuba"),
    ("CV", "CPV", "132", "Republic of Cabo Verde"),
    ("CW", "CUW", "531", "Curaçao"),
    ("CX", "CXR", "162", None),
    ("CY", "CYP", "196", "Republic of Cyprus"),
    ("CZ", "CZE", "203", "Czech Republic"),
    ("DE", "DEU", "276", "Federal Republic of Germany"),
    ("DJ", "DJI", "262", "Republic of Djibouti"),
    ("DK", "DNK", "208", "Kingdom of Denmark"),
    ("DM", "DMA", "212", "Commonwealth of Dominica"),
    ("DO", "DOM", "214", None),
    ("DZ", "DZA", "012", "People's Democratic Republic of Algeria"),
    ("EC", "ECU", "218", "Republic of Ecuador"),
    ("EE", "EST", "233", "Republic of Estonia"),
    ("EG", "EGY", "818", "Arab Republic of Egypt"),
    ("EH", "ESH", "732", None),
    ("ER", "ERI", "232", "the State of Eritrea"),
    ("ES", "ESP", "724", "Kingdom of Spain"),
    ("ET", "ETH", "231", "Federal Democratic Republic of Ethiopia"),
    ("FI", "FIN", "246", "Republic of Finland"),
    ("FJ", "FJI", "242", "Republic of Fiji"),
    ("FK", "FLK", "238", None),
    ("FM", "FSM", "583", "Federated States of Micronesia"),
    ("FO", "FRO", "234", None),
    ("FR", "FRA", "250", "French Republic"),
    ("GA", "GAB", "266", "Gabonese Republic"),
    ("GB", "GBR", "826", "United Kingdom of Great Britain and Northern Ireland"),
    ("GD", "GRD", "308", None),
    ("GE", "GEO", "268", None),
    ("GF", "GUF", "254", None),
    ("GG", "GGY", "831", None),
    ("GH", "GHA", "288", "Republic of Ghana"),
    ("GI", "GIB", "292", None),
    ("GL", "GRL", "304", None),
    ("GM", "GMB", "270", "Republic of the Gambia"),
    ("GN", "GIN", "324", "Republic of Guinea"),
    ("GP", "GLP", "312", None),
    ("GQ", "GNQ", "226", "Republic of Equatorial Guinea"),
    ("GR", "GRC", "300", "Hellenic Republic"),
    ("GS", "SGS", "239", None),
    ("GT", "GTM", "320", "Republic of Guatemala"),
    ("GU", "GUM", "316", None),
    ("GW", "GNB", "624", "Republic of Guinea-Bissau"),
    ("GY", "GUY", "328", "Republic of Guyana"),
    ("HK", "HKG", "344", "Hong Kong Special Administrative Region of China"),
    ("HM", "HMD", "334", None),
    ("HN", "HND", "340", "Republic of Honduras"),
    ("HR", "HRV", "191", "Republic of Croatia"),
    ("HT", "HTI", "332", "Republic of Haiti"),
    ("HU", "HUN", "348", "Hungary"),
    ("ID", "IDN", "360", "Republic of Indonesia"),
    ("IE", "IRL", "372", None),
    ("IL", "ISR", "376", "State of Israel"),
    ("IM", "IMN", "833", None),
    ("IN", "IND", "356", "Republic of India"),
    ("IO", "IOT", "086", None),
    ("IQ", "IRQ", "368", "Republic of Iraq"),
    ("IR", "IRN", "364", "Islamic Republic of Iran"),
    ("IS", "ISL", "352", "Republic of Iceland"),
    ("IT", "ITA", "380", "Italian Republic"),
    ("JE", "JEY", "832", None),
    ("JM", "JAM", "388", None),
    ("JO", "JOR", "400", "Hashemite Kingdom of Jordan"),
    ("JP", "JPN", "392", None),
    ("KE", "KEN", "404", "Republic of Kenya"),
    ("KG", "KGZ", "417", "Kyrgyz Republic"),
    ("KH", "KHM", "116", "Kingdom of Cambodia"),
    ("KI", "KIR", "296", "Republic of Kiribati"),
    ("KM", "COM", "174", "Union of the Comoros"),
    ("KN", "KNA", "659", None),
    ("KP", "PRK", "408", "Democratic People's Republic of Korea"),
    ("KR", "KOR", "410", None),
    ("KW", "KWT", "414", "State of Kuwait"),
    ("KY", "CYM", "136", None),
    ("KZ", "KAZ", "398", "Republic of Kazakhstan"),
    ("LA", "LAO", "418", None),
    ("LB", "LBN", "422", "Lebanese Republic"),
    ("LC", "LCA", "662", None),
    ("LI", "LIE", "438", "Principality of Liechtenstein"),
    ("LK", "LKA", "144", "Democratic Socialist Republic of Sri Lanka"),
    ("LR", "LBR", "430", "Republic of Liberia"),
    ("LS", "LSO", "426", "Kingdom of Lesotho"),
    ("LT", "LTU", "440", "Republic of Lithuania"),
    ("LU", "LUX", "442", "Grand Duchy of Luxembourg"),
    ("LV", "LVA", "428", "Republic of Latvia"),
    ("LY", "LBY", "434", "Libya"),
    ("MA", "MAR", "504", "Kingdom of Morocco"),
    ("MC", "MCO", "492", "Principality of Monaco"),
    ("MD", "MDA", "498", "Republic of Moldova"),
    ("ME", "MNE", "499", "Montenegro"),
    ("MF", "MAF", "663", None),
    ("MG", "MDG", "450", "Republic of Madagascar"),
    ("MH", "MHL", "584", "Republic of the Marshall Islands"),
    ("MK", "MKD", "807", "Republic of North Macedonia"),
    ("ML", "MLI", "466", "Republic of Mali"),
    ("MM", "MMR", "104", "Republic of Myanmar"),
    ("MN", "MNG", "496", None),
    ("MO", "MAC", "446", "Macao Special Administrative Region of China"),
    ("MP", "MNP", "580", "Commonwealth of the Northern Mariana Islands"),
    ("MQ", "MTQ", "474", None),
    ("MR", "MRT", "478", "Islamic Republic of Mauritania"),
    ("MS", "MSR", "500", None),
    ("MT", "MLT", "470", "Republic of Malta"),
    ("MU", "MUS", "480", "Republic of Mauritius"),
    ("MV", "MDV", "462", "Republic of Maldives"),
    ("MW", "MWI", "454", "Republic of Malawi"),
    ("MX", "MEX", "484", "United Mexican States"),
    ("MY", "MYS", "458", None),
    ("MZ", "MOZ", "508", "Republic of Mozambique"),
    ("NA", "NAM", "516", "Republic of Namibia"),
    ("NC", "NCL", "540", None),
    ("NE", "NER", "562", "Republic of the Niger"),
    ("NF", "NFK", "574", None),
    ("NG", "NGA", "566", "Federal Republic of Nigeria"),
    ("NI", "NIC", "558", "Republic of Nicaragua"),
    ("NL", "NLD", "528", "Kingdom of the Netherlands"),
    ("NO", "NOR", "578", "Kingdom of Norway"),
    ("NP", "NPL", "524", "Federal Democratic Republic of Nepal"),
    ("NR", "NRU", "520", "Republic of Nauru"),
    ("NU", "NIU", "570", "Niue"),
    ("NZ", "NZL", "554", None),
    ("OM", "OMN", "512", "Sultanate of Oman"),
    ("PA", "PAN", "591", "Republic of Panama"),
    ("PE", "PER", "604", "Republic of Peru"),
    ("PF", "PYF", "258", None),
    ("PG", "PNG", "598", "Independent State of Papua New Guinea"),
    ("PH", "PHL", "608", "Republic of the Philippines"),
    ("PK", "PAK", "586", "Islamic Republic of Pakistan"),
    ("PL", "POL", "616", "Republic of Poland"),
    ("PM", "SPM", "666", None),
    ("PN", "PCN", "612", None),
    ("PR", "PRI", "630", None),
    ("PS", "PSE", "275", "the State of Palestine"),
    ("PT", "PRT", "620", "Portuguese Republic"),
    ("PW", "PLW", "585", "Republic of Palau"),
    ("PY", "PRY", "600", "Republic of Paraguay"),
    ("QA", "QAT", "634", "State of Qatar"),
    ("RE", "REU", "638", None),
    ("RO", "ROU", "642", None),
    ("RS", "SRB", "688", "Republic of Serbia"),
    ("RU", "RUS", "643", None),
    ("RW", "RWA", "646", "Rwandese Republic"),
    ("SA", "SAU", "682", "Kingdom of Saudi Arabia"),
    ("SB", "SLB", "090", None),
    ("SC", "SYC", "690", "Republic of Seychelles"),
    ("SD", "SDN", "729", "Republic of the Sudan"),
    ("SE", "SWE", "752", "Kingdom of Sweden"),
    ("SG", "SGP", "702", "Republic of Singapore"),
    ("SH", "SHN", "654", None),
    ("SI", "SVN", "705", "Republic of Slovenia"),
    ("SJ", "SJM", "744", None),
    ("SK", "SVK", "703", "Slovak Republic"),
    ("SL", "SLE", "694", "Republic of Sierra Leone"),
    ("SM", "SMR", "674", "Republic of San Marino"),
    ("SN", "SEN", "686", "Republic of Senegal"),
    ("SO", "SOM", "706", "Federal Republic of Somalia"),
    ("SR", "SUR", "740", "Republic of Suriname"),
    ("SS", "SSD", "728", "Republic of South Sudan"),
    ("ST", "STP", "678", "Democratic Republic of Sao Tome and Principe"),
    ("SV", "SLV", "222", "Republic of El Salvador"),
    ("SX", "SXM", "534", "Sint Maarten (Dutch part)"),
    ("SY", "SYR", "760", None),
    ("SZ", "SWZ", "748", "Kingdom of Eswatini"),
    ("TC", "TCA", "796", None),
    ("TD", "TCD", "148", "Republic of Chad"),
    ("TF", "ATF", "260", None),
    ("TG", "TGO", "768", "Togolese Republic"),
    ("TH", "THA", "764", "Kingdom of Thailand"),
    ("TJ", "TJK", "762", "Republic of Tajikistan"),
    ("TK", "TKL", "772", None),
    ("TL", "TLS", "626", "Democratic Republic of Timor-Leste"),
    ("TM", "TKM", "795", None),
    ("TN", "TUN", "788", "Republic of Tunisia"),
    ("TO", "TON", "776", "Kingdom of Tonga"),
    ("TR", "TUR", "792", "Republic of Türkiye"),
    ("TT", "TTO", "780", "Republic of Trinidad and Tobago"),
    ("TV", "TUV", "798", None),
    ("TW", "TWN", "158", "Taiwan, Province of China"),
    ("TZ", "TZA", "834", "United Republic of Tanzania"),
    ("UA", "UKR", "804", None),
    ("UG", "UGA", "800", "Republic of Uganda"),
    ("UM", "UMI", "581", None),
    ("US", "USA", "840", "United States of America"),
    ("UY", "URY", "858", "Eastern Republic of Uruguay"),
    ("UZ", "UZB", "860", "Republic of Uzbekistan"),
    ("VA", "VAT", "336", None),
    ("VC", "VCT", "670", None),
    ("VE", "VEN", "862", "Bolivarian Republic of Venezuela"),
    ("VG", "VGB", "092", "British Virgin Islands"),
    ("VI", "VIR", "850", "Virgin Islands of the United States"),
    ("VN", "VNM", "704", "Socialist Republic of Viet Nam"),
    ("VU", "VUT", "548", "Republic of Vanuatu"),
    ("WF", "WLF", "876", None),
    ("WS", "WSM", "882", "Independent State of Samoa"),
    ("YE", "YEM", "887", "Republic of Yemen"),
    ("YT", "MYT", "175", None),
    ("ZA", "ZAF", "710", "Republic of South Africa"),
    ("ZM", "ZMB", "894", "Republic of Zambia"),
    ("ZW", "ZWE", "716", "Republic of Zimbabwe"),
)


def upgrade() -> None:
    op.add_column("country", sa.Column("alpha_3", sa.String(length=3), nullable=True))
    op.add_column("country", sa.Column("numeric_code", sa.String(length=3), nullable=True))
    op.add_column("country", sa.Column("official_name", sa.String(length=200), nullable=True))

    iso = sa.values(
        sa.column("code", sa.String),
        sa.column("alpha_3", sa.String),
        sa.column("numeric_code", sa.String),
        sa.column("official_name", sa.String),
        name="iso",
    ).data(list(ISO_3166_1))
    op.execute(
        country.update()
        .where(country.c.code == iso.c.code)
        .values(
            alpha_3=iso.c.alpha_3,
            numeric_code=iso.c.numeric_code,
            official_name=iso.c.official_name,
        )
    )
    if not context.is_offline_mode():
        _refuse_unknown_codes()

    op.alter_column("country", "alpha_3", existing_type=sa.String(length=3), nullable=False)
    op.alter_column("country", "numeric_code", existing_type=sa.String(length=3), nullable=False)
    op.create_unique_constraint(op.f("uq_country_alpha_3"), "country", ["alpha_3"])
    op.create_unique_constraint(op.f("uq_country_numeric_code"), "country", ["numeric_code"])
    op.create_check_constraint(
        op.f("ck_country_alpha_3_is_alpha_3"), "country", "alpha_3 ~ '^[A-Z]{3}$'"
    )
    op.create_check_constraint(
        op.f("ck_country_numeric_code_is_3_digits"), "country", "numeric_code ~ '^[0-9]{3}$'"
    )


def _refuse_unknown_codes() -> None:
    """Stop, with the codes named, if a row has a code ISO 3166 does not know."""
    unknown = (
        op.get_bind()
        .execute(sa.select(country.c.code).where(country.c.alpha_3.is_(None)).limit(20))
        .scalars()
        .all()
    )
    if unknown:
        raise RuntimeError(
            "these country codes are not in ISO 3166-1, so their new columns cannot be filled "
            f"in: {', '.join(unknown)}. Correct or delete those rows, then upgrade again."
        )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_country_numeric_code_is_3_digits"), "country", type_="check")
    op.drop_constraint(op.f("ck_country_alpha_3_is_alpha_3"), "country", type_="check")
    op.drop_constraint(op.f("uq_country_numeric_code"), "country", type_="unique")
    op.drop_constraint(op.f("uq_country_alpha_3"), "country", type_="unique")
    op.drop_column("country", "official_name")
    op.drop_column("country", "numeric_code")
    op.drop_column("country", "alpha_3")
