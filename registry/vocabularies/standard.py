"""The regimens given after MLL96/MLL98 (the demo cohort's and the registry's first free-text
names) and the usual infant and childhood ALL salvage protocols, with their agents.

The start of the lists: migration 0002 writes them, and :func:`ensure` writes any that are
missing after every ``migrate`` or flush (as Django recreates its content types), so a registry
always has them. Administrators add, rename and retire entries in the admin; ``ensure`` never
changes an existing one.
"""

AGENTS = [
    # code, name (INN), Japanese name
    ("FLU", "fludarabine", "フルダラビン"),
    ("ARAC", "cytarabine", "シタラビン"),
    ("GCSF", "G-CSF (filgrastim)", "G-CSF（フィルグラスチム）"),
    ("IDA", "idarubicin", "イダルビシン"),
    ("DNR", "daunorubicin", "ダウノルビシン"),
    ("MIT", "mitoxantrone", "ミトキサントロン"),
    ("VP16", "etoposide", "エトポシド"),
    ("IFO", "ifosfamide", "イホスファミド"),
    ("CBDCA", "carboplatin", "カルボプラチン"),
    ("CPM", "cyclophosphamide", "シクロホスファミド"),
    ("CLO", "clofarabine", "クロファラビン"),
    ("VCR", "vincristine", "ビンクリスチン"),
    ("PSL", "prednisolone", "プレドニゾロン"),
    ("DEX", "dexamethasone", "デキサメタゾン"),
    ("ASP", "L-asparaginase", "L-アスパラギナーゼ"),
    ("PEGASP", "pegaspargase", "ペグアスパラガーゼ"),
    ("MTX", "methotrexate", "メトトレキサート"),
    ("6MP", "mercaptopurine", "メルカプトプリン"),
    ("BLIN", "blinatumomab", "ブリナツモマブ"),
    ("INO", "inotuzumab ozogamicin", "イノツズマブ オゾガマイシン"),
    ("TISA", "tisagenlecleucel", "チサゲンレクルユーセル"),
]

REGIMENS = [
    # code, name, Japanese name, description, agent codes
    ("FLAG", "FLAG", "FLAG療法", "Fludarabine, cytarabine and G-CSF.", ["FLU", "ARAC", "GCSF"]),
    ("FLAG-IDA", "FLAG-IDA", "FLAG-IDA療法", "FLAG with idarubicin.", ["FLU", "ARAC", "GCSF", "IDA"]),
    (
        "HDARAC-VP16",
        "HD-AraC/VP16",
        "大量シタラビン・エトポシド療法",
        "High-dose cytarabine with etoposide.",
        ["ARAC", "VP16"],
    ),
    (
        "MLL98-RESCUE",
        "MLL98 rescue",
        "MLL98救援療法",
        "The MLL98 protocol's rescue arm: idarubicin, high-dose cytarabine and dexamethasone.",
        ["IDA", "ARAC", "DEX"],
    ),
    (
        "VPDL",
        "VPDL re-induction",
        "VPDL再寛解導入療法",
        "Vincristine, prednisolone, daunorubicin and L-asparaginase.",
        ["VCR", "PSL", "DNR", "ASP"],
    ),
    ("ICE", "ICE", "ICE療法", "Ifosfamide, carboplatin and etoposide.", ["IFO", "CBDCA", "VP16"]),
    ("MIT-VP16", "MIT/VP16", "ミトキサントロン・エトポシド療法", "Mitoxantrone with etoposide.", ["MIT", "VP16"]),
    (
        "INTERFANT-REL",
        "Interfant-99/06 relapse treatment",
        "Interfant-99/06再発治療",
        "Relapse treatment as the Interfant-99 and Interfant-06 protocols advise it (agents vary by center).",
        [],
    ),
    (
        "ALL-REZ-BFM",
        "ALL-REZ BFM",
        "ALL-REZ BFM",
        "ALL-REZ BFM relapse protocol (R1/R2 blocks).",
        ["DEX", "VCR", "MTX", "ARAC", "ASP", "IFO", "DNR"],
    ),
    (
        "UKALL-R3-MIT",
        "UKALL R3 (mitoxantrone arm)",
        "UKALL R3（ミトキサントロン群）",
        "UKALL R3 re-induction with mitoxantrone.",
        ["MIT", "DEX", "VCR", "PEGASP", "MTX"],
    ),
    (
        "CLO-VP16-CPM",
        "Clofarabine/etoposide/cyclophosphamide",
        "クロファラビン・エトポシド・シクロホスファミド療法",
        "Clofarabine-based salvage with etoposide and cyclophosphamide.",
        ["CLO", "VP16", "CPM"],
    ),
    ("HD-MTX", "High-dose methotrexate based", "大量メトトレキサート療法", "High-dose methotrexate based.", ["MTX"]),
    ("BLINA", "Blinatumomab", "ブリナツモマブ", "CD19/CD3 bispecific T-cell engager.", ["BLIN"]),
    ("INO", "Inotuzumab ozogamicin", "イノツズマブ オゾガマイシン", "Anti-CD22 antibody-drug conjugate.", ["INO"]),
    (
        "CART-TISA",
        "CAR-T (tisagenlecleucel)",
        "CAR-T療法（チサゲンレクルユーセル）",
        "CD19 CAR T cells (tisagenlecleucel).",
        ["TISA"],
    ),
]


def ensure(apps=None, using="default"):
    """Create the agents and regimens of these lists that do not exist (by code); change nothing else."""
    if apps is None:
        from django.apps import apps
    Agent = apps.get_model("vocabularies", "Agent")
    Regimen = apps.get_model("vocabularies", "Regimen")
    agents = {a.code: a for a in Agent.objects.using(using).filter(code__in=[c for c, _n, _j in AGENTS])}
    for code, name, name_ja in AGENTS:
        if code not in agents:
            agents[code] = Agent.objects.using(using).create(code=code, name=name, name_ja=name_ja)
    existing = set(Regimen.objects.using(using).values_list("code", flat=True))
    for code, name, name_ja, description, agent_codes in REGIMENS:
        if code not in existing:
            regimen = Regimen.objects.using(using).create(
                code=code, name=name, name_ja=name_ja, description=description
            )
            regimen.agents.set([agents[c] for c in agent_codes])
