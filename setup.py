from setuptools import find_packages, setup

setup(
    name="symgraph",
    version="0.1.0",
    description="A symbolic computational-graph compiler for Python",
    packages=find_packages(include=["symgraph", "symgraph.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "scipy>=1.10", "cffi>=1.15", "filelock>=3.8", "typing-extensions>=4.5"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
)
