"""The words of the synthetic items' titles and descriptions: one theme per taste cluster.

``synthetic/files.py`` writes each item's title and one-sentence description from the theme of its
cluster and the sub-theme of its niche, so the text says what the hidden process knows: who likes
the item. Cluster ``c`` speaks theme ``c % len(THEMES)`` and niche ``n`` its sub-theme
``n % NICHES``; with more clusters than themes, clusters share a theme and only categories and tags
tell them apart. No title word is shared between themes (``tests/synthetic`` checks it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

POOL = 6  # title adjectives of a theme, title nouns of a niche
PHRASES = 3  # tones and settings of a theme, heroes and plots of a niche
NICHES = 4  # sub-themes per theme


class Niche(NamedTuple):
    name: str
    nouns: tuple[str, ...]  # POOL title nouns
    heroes: tuple[str, ...]  # PHRASES subjects of a description
    plots: tuple[str, ...]  # PHRASES of what the hero does


class Theme(NamedTuple):
    genre: str
    adjectives: tuple[str, ...]  # POOL title adjectives
    tones: tuple[str, ...]  # PHRASES
    settings: tuple[str, ...]  # PHRASES
    niches: tuple[Niche, ...]  # NICHES


def _theme(genre: str, adjectives: str, tones: str, settings: str, *niches: tuple) -> Theme:
    """A theme from ``|``-separated lists (titles' words separated by spaces)."""
    return Theme(
        genre,
        tuple(adjectives.split()),
        tuple(tones.split("|")),
        tuple(settings.split("|")),
        tuple(
            Niche(name, tuple(nouns.split()), tuple(h.split("|")), tuple(p.split("|")))
            for name, nouns, h, p in niches
        ),
    )


# fmt: off
THEMES = (
    _theme("noir", "Midnight Crooked Silent Cold Last Dark", "slow-burning|rain-soaked|hard-boiled",
           "in a corrupt port city|through the neon alleys of downtown|on the foggy waterfront",
           ("detective", "Alibi Witness Confession Verdict Badge Precinct",
            "a disgraced detective|a rookie cop|a weary inspector",
            "reopens a murder case nobody wants solved|chases a killer who leaves no fingerprints|"
            "hunts the informant who framed his partner"),
           ("femme fatale", "Widow Kiss Lipstick Diamond Stranger Temptress",
            "a lonely insurance clerk|a nightclub singer|a broke private eye",
            "falls for a woman who wants her husband dead|is drawn into a blackmail scheme|"
            "trades every secret for a way out"),
           ("mob", "Racket Syndicate Boss Debt Protection Family",
            "a bookkeeper for the mob|a small-time bootlegger|a crime boss's son",
            "tries to leave the syndicate alive|skims money from the wrong family|"
            "testifies against his own brother"),
           ("courtroom", "Jury Testimony Appeal Trial Evidence Gallows",
            "a public defender|a hanging judge|a wrongly accused dockworker",
            "races to overturn a death sentence|discovers the evidence was planted|"
            "defends the man who ruined her")),
    _theme("science-fiction epic", "Distant Silver Frozen Final Hollow Infinite",
           "cerebral|sweeping|claustrophobic",
           "aboard a failing generation ship|at the edge of the galaxy|on a terraformed moon",
           ("first contact", "Signal Visitor Beacon Message Sphere Contact",
            "a linguist|a radio astronomer|a lonely station keeper",
            "decodes a message from another star|greets visitors who speak in mathematics|"
            "answers a signal that should not exist"),
           ("machines", "Android Circuit Machine Algorithm Synthetic Core",
            "a maintenance robot|a rogue AI|a cybernetics engineer",
            "wakes up with feelings it was never built to have|questions the orders of its makers|"
            "hides a sentient program from the authorities"),
           ("space war", "Fleet Armada Starfighter Dreadnought Blockade Squadron",
            "a young starfighter pilot|a fleet admiral|a mutinous gunner",
            "leads a desperate assault on an enemy armada|breaks an interstellar blockade|"
            "defends the last colony from invasion"),
           ("time travel", "Paradox Loop Chronicle Clockwork Tomorrow Rift",
            "a physicist|a time courier|a stranded tourist from the future",
            "relives the same day until she fixes it|tries to prevent his own birth|"
            "steals a minute from tomorrow")),
    _theme("romance", "Sweet Summer Endless Secret Tender Golden", "bittersweet|warm-hearted|swooning",
           "in a small seaside town|across the rooftops of Paris|during one long summer",
           ("period", "Duchess Ballroom Letters Estate Corset Suitor",
            "a penniless governess|a proud duke|a vicar's daughter",
            "refuses the one proposal she secretly wants|writes to a suitor she has never met|"
            "scandalises society by marrying for love"),
           ("comedy", "Wedding Date Bouquet Roommate Crush Proposal",
            "a wedding planner|a hopeless bachelor|a rival baker",
            "fakes an engagement that becomes real|falls for the best man|"
            "keeps bumping into the same stranger"),
           ("tragic", "Farewell Tears Rain Promise Goodbye Memory",
            "a dying painter|a soldier's fiancee|a star-crossed lover",
            "waits for a lover who never returns|chooses duty over the love of her life|"
            "lives one last summer with his first love"),
           ("second chance", "Reunion Homecoming Anniversary Porch Harvest Orchard",
            "a divorced chef|a widowed farmer|a high-school sweetheart",
            "returns home and meets her first love again|rebuilds a bakery and a broken heart|"
            "learns to love again after loss")),
    _theme("horror film", "Cursed Haunted Wicked Bloody Grim Crimson", "terrifying|blood-curdling|creeping",
           "in an abandoned asylum|deep in the woods|in a village that never sleeps",
           ("ghosts", "Ghost Attic Seance Apparition Mirror Whisper",
            "a grieving widow|a paranormal investigator|a family of five",
            "moves into a house where the dead still live|hears a dead sister calling from the walls|"
            "holds a seance that goes horribly wrong"),
           ("slasher", "Mask Machete Camp Scream Slaughter Hook",
            "a group of camp counsellors|a babysitter|the last girl standing",
            "is stalked by a masked killer|survives a night of slaughter|"
            "fights back against the man with the hook"),
           ("creatures", "Creature Fang Swamp Beast Claw Hive",
            "a park ranger|a marine biologist|a small-town sheriff",
            "tracks a beast that feeds at the full moon|finds something breeding in the swamp|"
            "battles a swarm from the deep"),
           ("occult", "Ritual Pentagram Coven Grimoire Altar Sacrifice",
            "a young priest|a curious librarian|a sceptical exorcist",
            "opens a grimoire that should stay closed|joins a coven that demands a sacrifice|"
            "performs an exorcism on his own daughter")),
    _theme("fantasy adventure", "Enchanted Ancient Forgotten Elven Shining Sacred", "magical|epic|whimsical",
           "in a kingdom of floating islands|beyond the misty mountains|in an enchanted forest",
           ("dragons", "Dragon Wyrm Egg Scale Flame Hoard",
            "a young dragon rider|a blacksmith's apprentice|an exiled princess",
            "hatches the last dragon egg|steals gold from a sleeping wyrm|tames a dragon to save her people"),
           ("wizards", "Wizard Spellbook Academy Wand Potion Familiar",
            "an apprentice wizard|a failed sorceress|a talking cat",
            "casts a forbidden spell at the academy|brews a potion that swaps two bodies|"
            "duels the headmaster for the crown"),
           ("quest", "Quest Sword Crown Relic Throne Oath",
            "a band of unlikely heroes|a farm boy with a destiny|a dwarven king",
            "carries a cursed relic across the realm|seeks a sword hidden beneath the sea|"
            "swears to reclaim the stolen throne"),
           ("fae", "Fairy Glade Toadstool Lantern Changeling Riddle",
            "a lost child|a mischievous fairy|a woodcutter's daughter",
            "bargains with the fairy queen|answers three riddles to escape the glade|"
            "follows a lantern into the realm of the fae")),
    _theme("western", "Dusty Lonesome Rusty Wild Desert Lawless", "sun-bleached|gritty|rough-riding",
           "on the Texas frontier|in a dusty border town|across the open prairie",
           ("gunslingers", "Gunslinger Revolver Showdown Bounty Sheriff Saloon",
            "a retired gunslinger|a young deputy|a bounty hunter",
            "faces the outlaw gang at high noon|collects a bounty on his own brother|"
            "cleans up a town run by bandits"),
           ("ranch", "Ranch Cattle Stampede Trail Lasso Homestead",
            "a rancher's widow|a green cowhand|a trail boss",
            "drives a herd a thousand miles north|defends her homestead from land grabbers|"
            "turns a stampede in a narrow canyon"),
           ("gold rush", "Gold Railroad Mine Stagecoach Claim Nugget",
            "a prospector|a railroad engineer|a stagecoach driver",
            "strikes gold and loses everything|robs the midnight train|"
            "guards a gold shipment through bandit country"),
           ("frontier", "Canyon Mesa Arrowhead Buffalo Horizon Coyote",
            "a cavalry scout|a Comanche tracker|a frontier doctor",
            "brokers peace between settlers and tribes|tracks a kidnapped girl across the mesa|"
            "rides with the last buffalo hunters")),
    _theme("war drama", "Fallen Brave Burning Iron Bitter Broken", "harrowing|unflinching|stirring",
           "on the beaches of Normandy|behind enemy lines|in the trenches of the Somme",
           ("infantry", "Platoon Beachhead Foxhole Bayonet Rifle Medal",
            "a young private|a battle-worn sergeant|a field medic",
            "holds a bridge against impossible odds|carries a wounded friend to safety|"
            "leads a platoon through the hedgerows"),
           ("air and sea", "Bomber Submarine Torpedo Convoy Spitfire Destroyer",
            "a bomber pilot|a submarine captain|a radio operator",
            "flies one last mission over Berlin|hunts a U-boat in the Atlantic|"
            "guides a convoy through a storm"),
           ("resistance", "Resistance Codebreaker Partisan Cipher Safehouse Radio",
            "a resistance fighter|a codebreaker|a double agent",
            "smuggles refugees over the mountains|cracks the enemy's cipher|"
            "hides an airman from the Gestapo"),
           ("home front", "Homefront Telegram Ration Nurse Evacuee Victory",
            "a nurse in a field hospital|a war widow|an evacuated child",
            "waits for a telegram from the front|keeps the farm running while her sons fight|"
            "finds a family in the countryside")),
    _theme("spy thriller", "Covert Deadly Rogue Double Hidden Black", "twisty|pulse-pounding|slick",
           "across the capitals of Europe|in Cold War Berlin|between Monaco and Istanbul",
           ("cold war", "Agent Dossier Defector Embassy Mole Curtain",
            "a KGB defector|a burned MI6 agent|an embassy translator",
            "unmasks a mole inside the agency|smuggles a defector across the Wall|"
            "trades secrets to save a family"),
           ("heist", "Heist Vault Casino Jewel Getaway Safecracker",
            "a master thief|a crew of retired con artists|a safecracker",
            "plans one last impossible heist|robs three casinos in one night|"
            "steals a jewel from a locked vault"),
           ("assassins", "Assassin Sniper Target Conspiracy Contract Trigger",
            "a hired assassin|a journalist|a bodyguard",
            "uncovers a plot to kill the president|refuses a final contract|"
            "protects the witness everyone wants dead"),
           ("cyber", "Hacker Firewall Code Network Breach Password",
            "a teenage hacker|a security analyst|a whistleblower",
            "breaches the most secure network on earth|exposes a surveillance program|"
            "races to stop a cyberattack")),
    _theme("coming-of-age drama", "Little Young Quiet Gentle Small Honest", "tender|wistful|heartfelt",
           "in a sleepy suburb|over one unforgettable summer|in a crowded family apartment",
           ("school", "Graduation Locker Prom Homework Yearbook Detention",
            "a shy teenager|a new kid in town|a class clown",
            "survives the last year of high school|runs for class president|"
            "finds the courage to ask someone to prom"),
           ("family", "Sisters Kitchen Grandmother Sunday Holiday Siblings",
            "an estranged sister|a stubborn grandmother|a single father",
            "reunites the family for one last holiday|keeps a family restaurant afloat|"
            "learns that the parents are divorcing"),
           ("friendship", "Treehouse Bicycle Friends Creek Fireflies Pond",
            "a gang of best friends|a boy and his dog|a kid on a bicycle",
            "sets out to find a legendary treasure|builds a raft to sail down the river|"
            "spends the summer chasing fireflies"),
           ("first steps", "Diner Paycheck Apartment Roadtrip Diary Dreams",
            "a small-town waitress|a college dropout|a young mother",
            "saves every tip for a ticket out of town|drives across the country to find a father|"
            "writes a whole life into a secret diary")),
    _theme("documentary", "Untamed Living Polar Vast Natural Deep", "breathtaking|eye-opening|intimate",
           "from the Arctic to the Amazon|across a single year|filmed over a decade",
           ("wildlife", "Lions Elephants Wolves Savanna Migration Predators",
            "a pride of lions|a herd of elephants|a lone wolf",
            "follows the great migration|survives the dry season|raises cubs on the savanna"),
           ("oceans", "Ocean Reef Whales Coral Tides Abyss",
            "a family of humpback whales|a reef octopus|a deep-sea diver",
            "dives into the deepest trenches|crosses an ocean to feed|reveals life on a dying reef"),
           ("history", "Empire Pharaohs Archive Revolution Dynasty Ruins",
            "a historian|an archaeologist|the last eyewitness",
            "reconstructs the fall of an empire|uncovers a lost city|retells a revolution in its own words"),
           ("true crime", "Investigation Inmates Scandal Truth Lawsuit Coverup",
            "a reporter|an innocent inmate|a team of lawyers",
            "investigates a wrongful conviction|exposes a corporate scandal|"
            "follows a town fighting for clean water")),
    _theme("musical", "Singing Dancing Jazzy Electric Roaring Starlit", "toe-tapping|dazzling|exuberant",
           "on Broadway|in the jazz clubs of Harlem|on a world tour",
           ("broadway", "Spotlight Chorus Encore Audition Showstopper Marquee",
            "a chorus girl|a struggling composer|a washed-up producer",
            "lands the lead on opening night|saves a failing show|writes a hit musical in a week"),
           ("rock", "Guitar Band Amplifier Tour Riff Anthem",
            "a garage band|a punk singer|a roadie",
            "goes on a disastrous tour|writes one perfect song|reunites the band for a last concert"),
           ("jazz", "Jazz Trumpet Blues Saxophone Swing Speakeasy",
            "a jazz trumpeter|a blues singer|a piano player",
            "plays a way out of poverty|sings in a smoky speakeasy|finds a voice in a swing band"),
           ("dance", "Ballet Tango Ballerina Footwork Rhythm Waltz",
            "a young ballerina|a street dancer|a tango instructor",
            "trains for the audition of a lifetime|wins a dance-off on the streets|"
            "teaches a city to dance again")),
    _theme("sports drama", "Unbeatable Fearless Undefeated Mighty Victorious Unstoppable",
           "inspiring|rousing|underdog",
           "in a struggling mill town|at the Olympic Games|in the minor leagues",
           ("boxing", "Boxer Ring Knockout Champion Gloves Round",
            "an ageing boxer|a young fighter|a one-eyed trainer",
            "gets one last shot at the title|fights a way out of the slums|trains a champion from nothing"),
           ("football", "Touchdown Quarterback Playoffs Stadium Coach Huddle",
            "a high-school coach|a benched quarterback|a team of misfits",
            "leads a losing team to the championship|wins the big game|rebuilds a team after tragedy"),
           ("racing", "Racer Speedway Engine Checkered Lap Pitstop",
            "a rookie driver|a veteran mechanic|a rally champion",
            "races for the championship|rebuilds a wrecked car|takes on the fastest drivers in the world"),
           ("running", "Marathon Sprinter Podium Relay Hurdles Stopwatch",
            "a marathon runner|a sprinter from a small village|a relay team",
            "runs the race of a lifetime|trains barefoot for the Olympics|breaks a world record")),
)
# fmt: on
_PATTERNS = ("{a} {n}", "The {n}", "The {a} {n}", "{n} and {m}")  # a title: 2 or 3 words
# Flat lookup tables, so that a whole chunk of items picks its words by array indexing.
_TABLES = {
    name: np.array(values, dtype=object)
    for name, values in {
        "genres": [t.genre for t in THEMES],
        "adjectives": [a for t in THEMES for a in t.adjectives],
        "tones": [x for t in THEMES for x in t.tones],
        "settings": [x for t in THEMES for x in t.settings],
        "nouns": [w for t in THEMES for niche in t.niches for w in niche.nouns],
        "heroes": [h for t in THEMES for niche in t.niches for h in niche.heroes],
        "plots": [x for t in THEMES for niche in t.niches for x in niche.plots],
    }.items()
}


def topic_name(cluster: int, niche: int) -> str:
    """``noir / courtroom``: the theme and sub-theme a cluster's niche speaks."""
    theme = THEMES[cluster % len(THEMES)]
    return f"{theme.genre} / {theme.niches[niche % NICHES].name}"


def _sources(
    theme: np.ndarray, niche: np.ndarray, rng: np.random.Generator, pure: bool
) -> tuple[np.ndarray, ...]:
    """Where a word comes from: 70% the item's niche, 20% another of its theme's, 10% anywhere."""
    n, roll = len(theme), np.zeros(len(theme)) if pure else rng.random(len(theme))
    return (
        np.where(roll < 0.9, theme, rng.integers(len(THEMES), size=n)),
        np.where(roll < 0.7, niche % NICHES, rng.integers(NICHES, size=n)),
    )


def describe(
    cluster: np.ndarray, niche: np.ndarray, rng: np.random.Generator, pure: bool = False
) -> list[tuple[str, str]]:
    """A ``(title, description)`` per item of the given clusters and niches.

    Title nouns, and the hero and plot of the description, come from the item's niche (70%),
    another niche of its theme (20%) or any theme (10%); adjectives, tone and setting from its
    theme (90%); ``pure``: all from its niche and theme. Draws are vectorised; only the
    formatting loops in Python.
    """
    n, theme = len(cluster), cluster % len(THEMES)
    noun, other, story = (_sources(theme, niche, rng, pure) for _ in range(3))
    adjective = theme if pure else np.where(rng.random(n) < 0.9, theme, rng.integers(len(THEMES), size=n))
    pattern, words = rng.integers(len(_PATTERNS), size=n), rng.integers(POOL, size=(n, 3))
    phrases = rng.integers(PHRASES, size=(n, 4))  # tone, setting, hero, plot
    same = (noun[0] == other[0]) & (noun[1] == other[1]) & (words[:, 1] == words[:, 2])
    words[:, 2] = np.where(same, (words[:, 2] + 1) % POOL, words[:, 2])  # never "Alibi and Alibi"
    niche_of = lambda source: source[0] * NICHES + source[1]  # noqa: E731
    title_words = (
        _TABLES["adjectives"][adjective * POOL + words[:, 0]],
        _TABLES["nouns"][niche_of(noun) * POOL + words[:, 1]],
        _TABLES["nouns"][niche_of(other) * POOL + words[:, 2]],
    )
    sentence = (
        _TABLES["tones"][theme * PHRASES + phrases[:, 0]],
        _TABLES["genres"][theme],
        _TABLES["heroes"][niche_of(story) * PHRASES + phrases[:, 2]],
        _TABLES["plots"][niche_of(story) * PHRASES + phrases[:, 3]],
        _TABLES["settings"][theme * PHRASES + phrases[:, 1]],
    )
    titles = [_PATTERNS[k].format(a=a, n=b, m=c) for k, a, b, c in zip(pattern, *title_words, strict=True)]
    descriptions = [
        f"{'An' if tone[0] in 'aeiou' else 'A'} {tone} {genre} about {hero} who {plot} {setting}."
        for tone, genre, hero, plot, setting in zip(*sentence, strict=True)
    ]
    return list(zip(titles, descriptions, strict=True))
