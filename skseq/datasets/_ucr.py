"""Loaders for the small classification datasets of the UCR and UEA time series
classification archives bundled with skseq.

The files are the archives' own ``.ts`` files (the format of the UEA archive
and of the aeon and sktime toolkits, which redistribute them), gzip-compressed
and otherwise unchanged: header lines start with ``#`` or ``@``, then one
sequence per line, its dimensions separated by ``:``, each a comma-separated
series, and the class label last.
"""

import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_DATA_PACKAGE = "skseq.datasets"

_ARCHIVE_REFERENCES = """\
  - H. A. Dau, A. Bagnall, K. Kamgar, C.-C. M. Yeh, Y. Zhu, S. Gharghabi,
    C. A. Ratanamahatana and E. Keogh (2019), "The UCR time series archive",
    IEEE/CAA Journal of Automatica Sinica 6(6):1293-1305,
    doi:10.1109/JAS.2019.1911747.
  - A. Bagnall, H. A. Dau, J. Lines, M. Flynn, J. Large, A. Bostrom,
    P. Southam and E. Keogh (2018), "The UEA multivariate time series
    classification archive, 2018", arXiv:1811.00075.
"""


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")


def _read_ts(name, split):
    """The sequences (list of float64 arrays of shape (length, n_dims)) and
    integer labels of a bundled ``.ts`` file, with its ``@`` header fields."""
    path = resources.files(_DATA_PACKAGE).joinpath(
        "data", f"{name}_{split.upper()}.ts.gz"
    )
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        lines = [line.strip() for line in text]
    header, sequences, labels = {}, [], []
    in_data = False
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if not in_data:
            key, _, value = line.partition(" ")
            header[key.lower()] = value
            in_data = key.lower() == "@data"
            continue
        *dims, label = line.split(":")
        columns = [np.array(dim.split(","), dtype=np.float64) for dim in dims]
        sequences.append(np.column_stack(columns))
        labels.append(int(label))
    if not sequences:
        raise RuntimeError(f"Bundled file {path.name} holds no sequences.")
    return sequences, np.array(labels, dtype=np.int64), header


def _bunch(name, split, return_X_y, descr, univariate):
    _check_split(split)
    sequences, target, _ = _read_ts(name, split)
    if univariate:
        data = np.stack([seq[:, 0] for seq in sequences])
    else:
        data = sequences
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, target_names=np.unique(target), DESCR=descr)


_ITALY_DESCR = f"""\
.. _italy_power_demand_dataset:

Italy power demand
------------------

**Dataset characteristics:**

:Sequences: 67 for training, 1029 for testing
:Length: 24 (one value per hour of a day), univariate
:Classes: 2 (1: October to March, 2: April to September)

Each sequence is one day of electrical power demand in Italy, from twelve
monthly series, z-normalised per day; the task is to tell winter days from
summer days. It was first used by Keogh et al. (2006) and is part of the UCR
time series classification archive.

**Terms:** the UCR archive's datasets are free to use for research and
teaching, and the archive asks to cite it and the dataset's source paper
(below). skseq ships the archive's own files, as redistributed in the
BSD-licensed aeon toolkit.

.. topic:: References

  - E. Keogh, L. Wei, X. Xi, S. Lonardi, J. Shieh and S. Sirowy (2006),
    "Intelligent Icons: Integrating Lite-Weight Data Mining and Visualization
    into GUI Operating Systems", Proceedings of the IEEE International
    Conference on Data Mining (ICDM 2006), 912-916.
{_ARCHIVE_REFERENCES}"""


def load_italy_power_demand(*, split="train", return_X_y=False):
    """Load the Italy power demand dataset, a short univariate classification.

    Daily profiles of Italian electrical power demand, 24 hourly values each,
    to be classified as winter (October to March) or summer days. From the
    UCR time series classification archive.

    =================  ==========================
    Sequences          67 (train), 1029 (test)
    Length             24, univariate
    Classes            2 (labels 1 and 2)
    =================  ==========================

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        The archive's fixed training or test part.

    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 24), dtype float64
            The sequences (a 2-D array: univariate sequences).
        target : ndarray of shape (n_samples,), dtype int64
            The class labels, 1 or 2.
        target_names : ndarray of shape (2,)
            The labels present.
        DESCR : str
            Description of the dataset, its sources and its terms.

    (data, target) : tuple if ``return_X_y`` is True

    Notes
    -----
    Sources (please cite both when you use the data): E. Keogh, L. Wei,
    X. Xi, S. Lonardi, J. Shieh and S. Sirowy, "Intelligent Icons:
    Integrating Lite-Weight Data Mining and Visualization into GUI Operating
    Systems", ICDM 2006; H. A. Dau et al., "The UCR time series archive",
    IEEE/CAA Journal of Automatica Sinica 6(6), 2019.

    Examples
    --------
    >>> from skseq.datasets import load_italy_power_demand
    >>> X, y = load_italy_power_demand(return_X_y=True)
    >>> X.shape, sorted(set(y.tolist()))
    ((67, 24), [1, 2])
    """
    return _bunch("ItalyPowerDemand", split, return_X_y, _ITALY_DESCR, True)


_GUNPOINT_DESCR = f"""\
.. _gunpoint_dataset:

GunPoint
--------

**Dataset characteristics:**

:Sequences: 50 for training, 150 for testing
:Length: 150, univariate
:Classes: 2 (1: Gun-Draw, 2: Point)

Two actors, filmed, either draw a replica gun from a hip holster, point it
at a target and put it back (Gun-Draw), or point at the target with their
index finger (Point). Each sequence is the horizontal coordinate of the
centroid of the actor's right hand over the motion, z-normalised. It is part
of the UCR time series classification archive.

**Terms:** the UCR archive's datasets are free to use for research and
teaching, and the archive asks to cite it and the dataset's source paper
(below). skseq ships the archive's own files, as redistributed in the
BSD-licensed aeon toolkit.

.. topic:: References

  - C. A. Ratanamahatana and E. Keogh (2004), "Making Time-series
    Classification More Accurate Using Learned Constraints", Proceedings of
    the SIAM International Conference on Data Mining (SDM 2004), 11-22.
{_ARCHIVE_REFERENCES}"""


def load_gunpoint(*, split="train", return_X_y=False):
    """Load the GunPoint dataset, a univariate motion classification.

    The horizontal position of an actor's hand over 150 frames, to be
    classified as drawing a gun or pointing a finger. From the UCR time
    series classification archive.

    =================  ==========================
    Sequences          50 (train), 150 (test)
    Length             150, univariate
    Classes            2 (labels 1 and 2)
    =================  ==========================

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        The archive's fixed training or test part.

    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 150), dtype float64
            The sequences (a 2-D array: univariate sequences).
        target : ndarray of shape (n_samples,), dtype int64
            The class labels, 1 (Gun-Draw) or 2 (Point).
        target_names : ndarray of shape (2,)
            The labels present.
        DESCR : str
            Description of the dataset, its sources and its terms.

    (data, target) : tuple if ``return_X_y`` is True

    Notes
    -----
    Sources (please cite both when you use the data): C. A. Ratanamahatana
    and E. Keogh, "Making Time-series Classification More Accurate Using
    Learned Constraints", SDM 2004; H. A. Dau et al., "The UCR time series
    archive", IEEE/CAA Journal of Automatica Sinica 6(6), 2019.

    Examples
    --------
    >>> from skseq.datasets import load_gunpoint
    >>> X, y = load_gunpoint(split="test", return_X_y=True)
    >>> X.shape
    (150, 150)
    """
    return _bunch("GunPoint", split, return_X_y, _GUNPOINT_DESCR, True)


_VOWELS_DESCR = f"""\
.. _japanese_vowels_dataset:

Japanese vowels
---------------

**Dataset characteristics:**

:Sequences: 270 for training, 370 for testing
:Length: 7 to 29 frames, 12 features (LPC cepstrum coefficients)
:Classes: 9 (the speaker, labels 1 to 9)

Nine male speakers each uttered the Japanese vowels /ae/ in succession; each
utterance is described by 12 linear-prediction cepstrum coefficients per
frame, over a varying number of frames. The task is to identify the
speaker. The training part has 30 utterances per speaker; the test part was
recorded later and has 24 to 88. It comes from the UCI Machine Learning
Repository and is part of the UEA multivariate archive.

**Terms:** the UCI Machine Learning Repository distributes it under the
Creative Commons Attribution 4.0 licence (CC BY 4.0): cite the source paper
(below). skseq ships the UEA archive's files, as redistributed in the
BSD-licensed aeon toolkit.

.. topic:: References

  - M. Kudo, J. Toyama and M. Shimbo (1999), "Multidimensional Curve
    Classification Using Passing-Through Regions", Pattern Recognition
    Letters 20(11-13):1103-1111.
  - M. Kudo, J. Toyama and M. Shimbo, "Japanese Vowels", UCI Machine
    Learning Repository, doi:10.24432/C5NS47.
{_ARCHIVE_REFERENCES}"""


def load_japanese_vowels(*, split="train", return_X_y=False):
    """Load the Japanese vowels dataset, a multivariate classification of
    sequences of different lengths.

    Utterances of nine speakers, 12 cepstrum coefficients per frame over 7 to
    29 frames, to be classified by speaker. From the UCI Machine Learning
    Repository, via the UEA multivariate time series classification archive.

    =================  ==========================
    Sequences          270 (train), 370 (test)
    Length             7 to 29, 12 features
    Classes            9 (labels 1 to 9)
    =================  ==========================

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        The archive's fixed training or test part.

    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : list of ndarray of shape (length_i, 12), dtype float64
            The sequences, of different lengths (skseq's estimators take
            such a list as it is).
        target : ndarray of shape (n_samples,), dtype int64
            The speaker, 1 to 9.
        target_names : ndarray of shape (9,)
            The labels present.
        DESCR : str
            Description of the dataset, its sources and its terms.

    (data, target) : tuple if ``return_X_y`` is True

    Notes
    -----
    Source (CC BY 4.0; please cite): M. Kudo, J. Toyama and M. Shimbo,
    "Multidimensional Curve Classification Using Passing-Through Regions",
    Pattern Recognition Letters 20(11-13):1103-1111, 1999. Archive:
    A. Bagnall et al., "The UEA multivariate time series classification
    archive, 2018", arXiv:1811.00075.

    Examples
    --------
    >>> from skseq.datasets import load_japanese_vowels
    >>> X, y = load_japanese_vowels(return_X_y=True)
    >>> len(X), X[0].shape[1]
    (270, 12)
    """
    return _bunch("JapaneseVowels", split, return_X_y, _VOWELS_DESCR, False)
