"""The paper's eight image target datasets, read through torchvision
(docs/sources/datasets.md, docs/methods/padding_vp.md).

Every dataset lives under one shared data root, each in torchvision's own sub-folder (SVHN in ``svhn/``).
Input sizes follow docs/methods/padding_vp.md: CIFAR-10/SVHN native 32, GTSRB resized to 32, the rest
resized to 128.
"""

from __future__ import annotations

from vpbench.data import class_names
from vpbench.data.registry import DatasetSpec, register_dataset
from vpbench.data.torchvision_readers import (
    EUROSAT_MD5,
    EUROSAT_URL,
    Caltech101Reader,
    Cifar10Reader,
    DtdReader,
    EurosatReader,
    Flowers102Reader,
    GtsrbReader,
    OxfordPetsReader,
    SvhnReader,
)

_GTSRB_BASE = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
_FLOWERS_BASE = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_PETS_BASE = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"

CIFAR10 = register_dataset(
    DatasetSpec(
        name="cifar10",
        split_sizes=(50_000, 10_000),
        label="CIFAR-10",
        num_classes=10,
        input_size=32,
        reader=Cifar10Reader(),
        class_names_fn=lambda: class_names.CIFAR10,
        split_policy="official split: data_batch_1..5 (50,000) for train, test_batch (10,000) for test",
        prestage_help="cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} "
        "(extract cifar-10-python.tar.gz into the data root)",
        sources=(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (md5 c58f30108f718f92721af3b95e74349a)",
        ),
        licence="no licence stated by the authors (research use)",
        citation="Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. "
        "Technical report, University of Toronto.",
    )
)

SVHN = register_dataset(
    DatasetSpec(
        name="svhn",
        split_sizes=(73_257, 26_032),
        label="SVHN",
        num_classes=10,
        input_size=32,
        reader=SvhnReader(),
        class_names_fn=lambda: class_names.SVHN,
        split_policy="official cropped-digit split: train_32x32.mat (73,257) for train, test_32x32.mat "
        "(26,032) for test, extra unused; label 10 means digit 0",
        prestage_help="svhn/train_32x32.mat and svhn/test_32x32.mat",
        sources=(
            "http://ufldl.stanford.edu/housenumbers/train_32x32.mat (md5 e26dedcc434d2e4c54c9b2d4a06d8373)",
            "http://ufldl.stanford.edu/housenumbers/test_32x32.mat (md5 eb5a983be6a315427106f1b164d9cef3)",
        ),
        licence="non-commercial use only",
        citation="Netzer, Y. et al. (2011). Reading Digits in Natural Images with Unsupervised Feature "
        "Learning. NIPS Workshop on Deep Learning and Unsupervised Feature Learning.",
    )
)

GTSRB = register_dataset(
    DatasetSpec(
        name="gtsrb",
        split_sizes=(26_640, 12_630),
        label="GTSRB",
        num_classes=43,
        input_size=32,
        reader=GtsrbReader(),
        class_names_fn=lambda: class_names.GTSRB,
        split_policy="official split: GTSRB/Training (26,640) for train, GTSRB/Final_Test with "
        "GT-final_test.csv (12,630) for test",
        prestage_help="gtsrb/GTSRB/Training/000NN/*.ppm (NN = 00..42), gtsrb/GTSRB/Final_Test/Images/*.ppm "
        "and gtsrb/GT-final_test.csv (';'-separated, Filename and ClassId columns)",
        sources=(
            f"{_GTSRB_BASE}GTSRB-Training_fixed.zip (md5 513f3c79a4c5141765e10e952eaa2478)",
            f"{_GTSRB_BASE}GTSRB_Final_Test_Images.zip (md5 c7e4e6327067d32654124b0fe9e82185)",
            f"{_GTSRB_BASE}GTSRB_Final_Test_GT.zip (md5 fe31e9c9270bbcd7b84b7f21a9d9d9e5)",
        ),
        licence="free for research use per the benchmark site; no formal licence published",
        citation="Stallkamp, J., Schlipsing, M., Salmen, J., Igel, C. (2012). Man vs. computer: Benchmarking "
        "machine learning algorithms for traffic sign recognition. Neural Networks 32.",
    )
)

DTD = register_dataset(
    DatasetSpec(
        name="dtd",
        split_sizes=(1_880, 1_880),
        label="DTD",
        num_classes=47,
        input_size=128,
        reader=DtdReader(),
        class_names_fn=lambda: class_names.DTD,
        split_policy="official partition 1: labels/train1.txt (40 per class, 1,880) for train, "
        "labels/test1.txt (1,880) for test; val1 unused",
        prestage_help="dtd/dtd/images/<class>/*.jpg and dtd/dtd/labels/{train1,test1}.txt "
        "(extract dtd-r1.0.1.tar.gz into <root>/dtd)",
        sources=(
            "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz "
            "(md5 fff73e5086ae6bdbea199a49dfb8a4c1)",
        ),
        licence="research use only (VGG, University of Oxford)",
        citation="Cimpoi, M., Maji, S., Kokkinos, I., Mohamed, S., Vedaldi, A. (2014). Describing Textures "
        "in the Wild. CVPR.",
    )
)

FLOWERS102 = register_dataset(
    DatasetSpec(
        name="flowers102",
        split_sizes=(1_020, 6_149),
        label="Flowers102",
        num_classes=102,
        input_size=128,
        reader=Flowers102Reader(),
        class_names_fn=class_names.flowers102,
        split_policy="official setid.mat: trnid (10 per class, 1,020) for train — not train+val — and "
        "tstid (6,149) for test; valid unused",
        prestage_help="flowers-102/jpg/image_NNNNN.jpg, flowers-102/imagelabels.mat and "
        "flowers-102/setid.mat",
        sources=(
            f"{_FLOWERS_BASE}102flowers.tgz (md5 52808999861908f626f3c1f4e79d11fa)",
            f"{_FLOWERS_BASE}imagelabels.mat (md5 e0620be6f572b9609742df49c70aed4d)",
            f"{_FLOWERS_BASE}setid.mat (md5 a5357ecc9cb78c4bef273ce3793fc85c)",
        ),
        licence="research use (VGG, University of Oxford); no formal licence published",
        citation="Nilsback, M.-E., Zisserman, A. (2008). Automated Flower Classification over a Large "
        "Number of Classes. ICVGIP.",
    )
)

OXFORD_PETS = register_dataset(
    DatasetSpec(
        name="oxford_pets",
        split_sizes=(3_680, 3_669),
        label="OxfordPets",
        paper_ece_batch=64,  # the authors' OxfordPets loader used batch 64 (docs/calibration.md)
        num_classes=37,
        input_size=128,
        reader=OxfordPetsReader(),
        class_names_fn=lambda: class_names.OXFORD_PETS,
        split_policy="official split: annotations/trainval.txt (3,680) is vpbench's train, "
        "annotations/test.txt (3,669) its test",
        prestage_help="oxford-iiit-pet/images/<Breed>_<n>.jpg and "
        "oxford-iiit-pet/annotations/{trainval,test}.txt",
        sources=(
            f"{_PETS_BASE}images.tar.gz (md5 5c4f3ee8e5d25df40f4fd59a7f44e54c)",
            f"{_PETS_BASE}annotations.tar.gz (md5 95a8c909bbe2e81eed6a22bccdf3f68f)",
        ),
        licence="CC BY-SA 4.0",
        citation="Parkhi, O. M., Vedaldi, A., Zisserman, A., Jawahar, C. V. (2012). Cats and Dogs. CVPR.",
    )
)

EUROSAT = register_dataset(
    DatasetSpec(
        name="eurosat",
        split_sizes=(24_300, 2_700),
        label="EuroSAT",
        num_classes=10,
        input_size=128,
        reader=EurosatReader(),
        class_names_fn=lambda: class_names.EUROSAT,
        split_policy="no official split: vpbench's fixed, disjoint, stratified 90/10 split of torchvision's "
        "EuroSAT.samples (sklearn train_test_split, test_size=0.1, stratify=labels, random_state=1, "
        "indices sorted), 24,300 train / 2,700 test; fixes the fork's train/test overlap "
        "(docs/deviations.md)",
        prestage_help="eurosat/2750/<Class>/*.jpg (extract EuroSAT.zip into <root>/eurosat)",
        sources=(f"{EUROSAT_URL} (md5 {EUROSAT_MD5})",),
        licence="MIT",
        citation="Helber, P., Bischke, B., Dengel, A., Borth, D. (2019). EuroSAT: A Novel Dataset and Deep "
        "Learning Benchmark for Land Use and Land Cover Classification. IEEE JSTARS.",
    )
)

CALTECH101 = register_dataset(
    DatasetSpec(
        name="caltech101",
        split_sizes=(3_030, 5_647),
        label="Caltech101",
        num_classes=101,
        input_size=128,
        reader=Caltech101Reader(),
        class_names_fn=lambda: class_names.CALTECH101,
        split_policy="no official split: per category, image_0001..image_0030 (torchvision's file order) "
        "for train and the rest for test (3,030 / 5,647); BACKGROUND_Google excluded",
        prestage_help="caltech101/101_ObjectCategories/<category>/image_NNNN.jpg, including the "
        "BACKGROUND_Google folder (torchvision removes it by name)",
        sources=(
            "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip "
            "(md5 3138e1922a9193bfa496528edbbc45d0)",
        ),
        licence="CC BY 4.0",
        citation="Fei-Fei, L., Fergus, R., Perona, P. (2004). Learning generative visual models from few "
        "training examples. CVPR Workshop on Generative-Model Based Vision.",
    )
)
