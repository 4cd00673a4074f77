"""msrec: multi-source recommendation with Beam, TensorFlow Recommenders and TF Serving."""

from setuptools import find_packages, setup

setup(
    name="msrec",
    version="0.1.0",
    description="Multi-source two-tower recommendation: Beam preprocessing, TFRS training, TF Serving.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(
        include=["msrec*", "preprocessing*", "trainer*", "serving*", "synthetic*", "modelserver*"]
    ),
    package_data={"msrec": ["presets/*.yaml"]},
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "tensorflow-recommenders==0.7.7",
        "tensorflow-serving-api==2.21.*",
        "tensorboard>=2.20",  # TensorFlow 2.21 no longer installs it; training logs need it
        "apache-beam==2.77.*",
        "pandas>=3",
        "google-crc32c>=1.5",  # Beam's TFRecord writer needs a crc32c implementation
        "numpy>=1.26",
        "scipy>=1.11",  # the scoring graph's regression inverts its matrix in place (LAPACK)
        "pyyaml>=6",
        "pyarrow>=14",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "optuna>=4",  # msrec tune: the search over settings on VALIDATION
        "safetensors>=0.4",  # reads the pretrained text encoder's weights (numpy API, no torch)
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.6", "cryptography>=42", "import-linter>=2.1"],
        "bench": ["scikit-learn>=1.4"],  # bench/ baselines only, not the product
    },
    entry_points={"console_scripts": ["msrec=msrec.app.cli:main"]},
)
