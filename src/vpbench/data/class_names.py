"""Real class names, in label order, for datasets whose torchvision class does not carry them without data.

Readers compare the on-disk class list against these, so a changed or partial source fails loudly instead
of shifting labels. Flowers102 names come from torchvision (``Flowers102.classes``).
"""

from __future__ import annotations

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

SVHN = tuple(str(digit) for digit in range(10))

# The official GTSRB sign names (signnames.csv order = ClassId 0..42).
GTSRB = (
    "Speed limit (20km/h)",
    "Speed limit (30km/h)",
    "Speed limit (50km/h)",
    "Speed limit (60km/h)",
    "Speed limit (70km/h)",
    "Speed limit (80km/h)",
    "End of speed limit (80km/h)",
    "Speed limit (100km/h)",
    "Speed limit (120km/h)",
    "No passing",
    "No passing for vehicles over 3.5 metric tons",
    "Right-of-way at the next intersection",
    "Priority road",
    "Yield",
    "Stop",
    "No vehicles",
    "Vehicles over 3.5 metric tons prohibited",
    "No entry",
    "General caution",
    "Dangerous curve to the left",
    "Dangerous curve to the right",
    "Double curve",
    "Bumpy road",
    "Slippery road",
    "Road narrows on the right",
    "Road work",
    "Traffic signals",
    "Pedestrians",
    "Children crossing",
    "Bicycles crossing",
    "Beware of ice/snow",
    "Wild animals crossing",
    "End of all speed and passing limits",
    "Turn right ahead",
    "Turn left ahead",
    "Ahead only",
    "Go straight or right",
    "Go straight or left",
    "Keep right",
    "Keep left",
    "Roundabout mandatory",
    "End of no passing",
    "End of no passing by vehicles over 3.5 metric tons",
)

# DTD texture folders, sorted (torchvision's ``DTD.classes``).
DTD = (
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
    "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
    "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled",
    "matted", "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted", "porous",
    "potholed", "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped",
    "studded", "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
)  # fmt: skip

# Oxford-IIIT Pet breeds in annotation-id order, title-cased as torchvision's ``OxfordIIITPet.classes``.
OXFORD_PETS = (
    "Abyssinian", "American Bulldog", "American Pit Bull Terrier", "Basset Hound", "Beagle", "Bengal",
    "Birman", "Bombay", "Boxer", "British Shorthair", "Chihuahua", "Egyptian Mau", "English Cocker Spaniel",
    "English Setter", "German Shorthaired", "Great Pyrenees", "Havanese", "Japanese Chin", "Keeshond",
    "Leonberger", "Maine Coon", "Miniature Pinscher", "Newfoundland", "Persian", "Pomeranian", "Pug",
    "Ragdoll", "Russian Blue", "Saint Bernard", "Samoyed", "Scottish Terrier", "Shiba Inu", "Siamese",
    "Sphynx", "Staffordshire Bull Terrier", "Wheaten Terrier", "Yorkshire Terrier",
)  # fmt: skip

# EuroSAT RGB class folders, sorted (ImageFolder order).
EUROSAT = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
    "Residential", "River", "SeaLake",
)  # fmt: skip

# Caltech101 category folders, sorted, BACKGROUND_Google removed (torchvision's ``Caltech101.categories``).
CALTECH101 = (
    "Faces", "Faces_easy", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor", "ant", "barrel",
    "bass", "beaver", "binocular", "bonsai", "brain", "brontosaurus", "buddha", "butterfly", "camera",
    "cannon", "car_side", "ceiling_fan", "cellphone", "chair", "chandelier", "cougar_body", "cougar_face",
    "crab", "crayfish", "crocodile", "crocodile_head", "cup", "dalmatian", "dollar_bill", "dolphin",
    "dragonfly", "electric_guitar", "elephant", "emu", "euphonium", "ewer", "ferry", "flamingo",
    "flamingo_head", "garfield", "gerenuk", "gramophone", "grand_piano", "hawksbill", "headphone",
    "hedgehog", "helicopter", "ibis", "inline_skate", "joshua_tree", "kangaroo", "ketch", "lamp", "laptop",
    "llama", "lobster", "lotus", "mandolin", "mayfly", "menorah", "metronome", "minaret", "nautilus",
    "octopus", "okapi", "pagoda", "panda", "pigeon", "pizza", "platypus", "pyramid", "revolver", "rhino",
    "rooster", "saxophone", "schooner", "scissors", "scorpion", "sea_horse", "snoopy", "soccer_ball",
    "stapler", "starfish", "stegosaurus", "stop_sign", "strawberry", "sunflower", "tick", "trilobite",
    "umbrella", "watch", "water_lilly", "wheelchair", "wild_cat", "windsor_chair", "wrench", "yin_yang",
)  # fmt: skip

# animal-mnist labels 0..9 in alphabetical order (docs/sources/offline_assets.md, checked visually).
ANIMAL_MNIST = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")

DIGITS = tuple(str(digit) for digit in range(10))

# The paper authors' GTSRB names for CLIP text prompts: the values of ``GTSRB_LABEL_MAP`` (ClassId 0..42)
# in ``data/const.py`` of landskape-ai/model-transferability (identical in OPTML-Group/ILM-VP), which their
# ``prepare_additive_data`` refines (lower-case, ``_``/``-`` → space). Only ``clip_classnames: paper``
# uses it.
GTSRB_PAPER = (
    "20_speed", "30_speed", "50_speed", "60_speed", "70_speed", "80_speed", "80_lifted", "100_speed",
    "120_speed", "no_overtaking_general", "no_overtaking_trucks", "right_of_way_crossing",
    "right_of_way_general", "give_way", "stop", "no_way_general", "no_way_trucks", "no_way_one_way",
    "attention_general", "attention_left_turn", "attention_right_turn", "attention_curvy",
    "attention_bumpers", "attention_slippery", "attention_bottleneck", "attention_construction",
    "attention_traffic_light", "attention_pedestrian", "attention_children", "attention_bikes",
    "attention_snowflake", "attention_deer", "lifted_general", "turn_right", "turn_left", "turn_straight",
    "turn_straight_right", "turn_straight_left", "turn_right_down", "turn_left_down", "turn_circle",
    "lifted_no_overtaking_general", "lifted_no_overtaking_trucks",
)  # fmt: skip


def flowers102() -> tuple[str, ...]:
    """The 102 official Oxford flower names, as torchvision ships them (label 0 = 'pink primrose')."""
    from torchvision.datasets import Flowers102

    return tuple(Flowers102.classes)
