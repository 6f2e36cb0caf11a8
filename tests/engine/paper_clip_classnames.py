"""The class-name strings of the paper authors' CLIP runs, transcribed as data (expected values of
``clip_classnames: paper``).

Source: landskape-ai/model-transferability, ``data/prepare_data.py::prepare_additive_data`` at 323fde4
(unchanged since c4be120, 2023-11-05, when Caltech101 was added; Table 2 includes Caltech101) and
``data/const.py::GTSRB_LABEL_MAP``; the names pass through the authors' ``refine_classnames`` (lower-case,
``_`` and ``-`` to spaces). CIFAR-10, DTD, OxfordPets and EuroSAT are torchvision's ``.classes`` so refined;
SVHN, Flowers102 and Caltech101 are ``[f"{i}" for i in range(C)]``.
"""

PAPER_CLIP_CLASSNAMES = {
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ],
    "svhn": [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ],
    "gtsrb": [
        "20 speed", "30 speed", "50 speed", "60 speed", "70 speed", "80 speed", "80 lifted", "100 speed",
        "120 speed", "no overtaking general", "no overtaking trucks", "right of way crossing",
        "right of way general", "give way", "stop", "no way general", "no way trucks", "no way one way",
        "attention general", "attention left turn", "attention right turn", "attention curvy",
        "attention bumpers", "attention slippery", "attention bottleneck", "attention construction",
        "attention traffic light", "attention pedestrian", "attention children", "attention bikes",
        "attention snowflake", "attention deer", "lifted general", "turn right", "turn left",
        "turn straight", "turn straight right", "turn straight left", "turn right down", "turn left down",
        "turn circle", "lifted no overtaking general", "lifted no overtaking trucks",
    ],
    "dtd": [
        "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
        "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
        "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled", "matted",
        "meshed", "paisley", "perforated", "pitted", "pleated", "polka dotted", "porous", "potholed",
        "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped", "studded",
        "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
    ],
    "flowers102": [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17",
        "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33",
        "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49",
        "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64", "65",
        "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80", "81",
        "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94", "95", "96", "97",
        "98", "99", "100", "101",
    ],
    "oxford_pets": [
        "abyssinian", "american bulldog", "american pit bull terrier", "basset hound", "beagle", "bengal",
        "birman", "bombay", "boxer", "british shorthair", "chihuahua", "egyptian mau",
        "english cocker spaniel", "english setter", "german shorthaired", "great pyrenees", "havanese",
        "japanese chin", "keeshond", "leonberger", "maine coon", "miniature pinscher", "newfoundland",
        "persian", "pomeranian", "pug", "ragdoll", "russian blue", "saint bernard", "samoyed",
        "scottish terrier", "shiba inu", "siamese", "sphynx", "staffordshire bull terrier",
        "wheaten terrier", "yorkshire terrier",
    ],
    "eurosat": [
        "annualcrop", "forest", "herbaceousvegetation", "highway", "industrial", "pasture", "permanentcrop",
        "residential", "river", "sealake",
    ],
    "caltech101": [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17",
        "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33",
        "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49",
        "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64", "65",
        "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80", "81",
        "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94", "95", "96", "97",
        "98", "99", "100",
    ],
}  # fmt: skip
