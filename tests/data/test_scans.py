"""Reading, validating and writing user scans."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from monai_nad.data import denormalise_intensity, find_images, load_image, normalise_intensity, output_path_for, save_like


def _nifti(path, data, affine=None):
    affine = np.diag([0.9, 1.1, 2.0, 1.0]) if affine is None else affine
    affine = affine.copy()
    affine[:3, 3] = [-10, 5, 3]
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _volume(shape=(12, 10, 6)):
    return np.random.default_rng(0).uniform(0, 500, size=shape).astype(np.float32)


def test_nifti_round_trip_keeps_affine_and_header(tmp_path):
    src = _nifti(tmp_path / "scan.nii.gz", _volume())
    loaded = load_image(src)
    assert loaded.kind == "nifti" and loaded.array.shape == (12, 10, 6)
    out = save_like(loaded.array * 0.5, loaded, output_path_for(src, tmp_path / "out"))
    assert out.name == "scan_denoised.nii.gz"
    a, b = nib.load(str(src)), nib.load(str(out))
    np.testing.assert_allclose(a.affine, b.affine)
    assert a.header.get_zooms() == b.header.get_zooms()
    np.testing.assert_allclose(b.get_fdata(), loaded.array * 0.5, rtol=1e-6)


def test_png_round_trip_and_rgb_to_grey(tmp_path):
    grey = (np.random.default_rng(1).uniform(0, 255, size=(30, 40))).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb = np.stack([grey] * 3, -1)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=100)
    g = load_image(tmp_path / "g.png")
    assert g.array.shape == (30, 40)
    np.testing.assert_array_equal(g.array, grey)
    c = load_image(tmp_path / "c.jpg")
    assert c.array.shape == (30, 40)
    out = save_like(g.array, g, output_path_for(tmp_path / "g.png", tmp_path / "out"))
    np.testing.assert_array_equal(np.asarray(Image.open(out)), grey)


def test_dicom_series_folder(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    series = tmp_path / "series"
    series.mkdir()
    uid = generate_uid()
    for k in range(4):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = pydicom.uid.MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(series / f"s{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, uid
        ds.Modality, ds.Rows, ds.Columns = "MR", 16, 12
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 2.0
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, 2.0 * k], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = (np.arange(16 * 12, dtype=np.uint16).reshape(16, 12) + 10 * k).tobytes()
        ds.save_as(str(series / f"s{k}.dcm"), enforce_file_format=True)
    assert find_images(tmp_path) == [series.resolve()]
    loaded = load_image(series)
    assert loaded.kind == "dicom" and loaded.array.ndim == 3 and 4 in loaded.array.shape
    out = save_like(loaded.array, loaded, output_path_for(series, tmp_path / "out"))
    assert out.name == "series_denoised.nii.gz" and nib.load(str(out)).shape == loaded.array.shape


def test_find_images_is_sorted_and_recursive(tmp_path):
    (tmp_path / "b").mkdir()
    _nifti(tmp_path / "b" / "z.nii.gz", _volume())
    _nifti(tmp_path / "a.nii", _volume())
    (tmp_path / "notes.txt").write_text("x")
    found = find_images(tmp_path)
    assert [p.name for p in found] == ["a.nii", "z.nii.gz"]


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda d: d / "missing.nii.gz", FileNotFoundError, "missing.nii.gz"),
        (lambda d: _write(d / "empty.nii.gz", b""), ValueError, "empty.nii.gz is empty"),
        (lambda d: _write(d / "junk.nii.gz", b"not a nifti at all" * 20), ValueError, "cannot read .*junk.nii.gz"),
        (lambda d: _nifti(d / "five.nii.gz", np.random.rand(4, 4, 4, 3, 2)), ValueError, "five.nii.gz has shape .* a 5D nifti image"),
        (lambda d: _nifti(d / "nan.nii.gz", np.where(np.eye(8)[..., None] > 0, np.nan, 1.0) * np.ones((8, 8, 2))), ValueError, "16 non-finite"),
        (lambda d: _nifti(d / "flat.nii.gz", np.full((6, 6, 6), 7.0)), ValueError, "flat.nii.gz is a constant image"),
        (lambda d: _nifti(d / "zero.nii.gz", np.zeros((6, 6, 6))), ValueError, "constant image"),
        (lambda d: _write(d / "scan.txt", b"x"), ValueError, "unsupported"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        load_image(make(tmp_path))


def test_empty_folder_and_overwrite_protection(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        find_images(tmp_path / "empty")
    src = _nifti(tmp_path / "scan.nii.gz", _volume())
    loaded = load_image(src)
    with pytest.raises(ValueError, match="refusing to write over the input"):
        save_like(loaded.array, loaded, src, overwrite=True)
    out = save_like(loaded.array, loaded, tmp_path / "o.nii.gz")
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="o.nii.gz"):
        save_like(loaded.array * 2, loaded, out)
    assert out.read_bytes() == before


def test_singleton_4d_is_squeezed_and_normalisation_round_trips(tmp_path):
    loaded = load_image(_nifti(tmp_path / "v.nii.gz", _volume()[..., None]))
    assert loaded.array.shape == (12, 10, 6)
    x01, params = normalise_intensity(loaded.array)
    assert x01.min() >= 0 and 0.9 < np.percentile(x01, 99.5) <= 1.0 + 1e-6
    np.testing.assert_allclose(denormalise_intensity(x01, params), loaded.array, rtol=1e-5, atol=1e-3)


def test_normalisation_keeps_the_zero_of_magnitude_images_and_shifts_signed_ones():
    magnitude = np.random.default_rng(0).uniform(50, 400, (8, 8)).astype(np.float32)
    x01, (offset, scale) = normalise_intensity(magnitude)
    assert offset == 0 and np.allclose(x01 * scale, magnitude)  # a pure rescaling: Rician noise stays Rician
    signed = magnitude - 100
    x01, (offset, _) = normalise_intensity(signed)
    assert offset == signed.min() and x01.min() == 0
    with pytest.raises(ValueError, match="constant"):
        normalise_intensity(np.full((4, 4), 7.0))


def test_a_failed_overwrite_keeps_the_old_result_and_leaves_no_partial_file(tmp_path, monkeypatch):
    source = _nifti(tmp_path / "in.nii.gz", _volume())
    loaded = load_image(source)
    out = tmp_path / "out" / "in_denoised.nii.gz"
    save_like(loaded.array, loaded, out)
    before = out.read_bytes()

    def interrupted(image, filename):  # writes part of the file, then the process is "interrupted"
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(nib, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_like(loaded.array * 2, loaded, out, overwrite=True)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["in_denoised.nii.gz"]


def test_integer_nifti_keeps_its_dtype_when_the_result_fits(tmp_path):
    path = tmp_path / "int.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5) * 7, np.eye(4)), str(path))
    loaded = load_image(path)
    written = save_like(loaded.array + 0.4, loaded, tmp_path / "o" / "int_denoised.nii.gz")
    result = nib.load(str(written))
    assert result.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(result.dataobj), loaded.array.astype(np.int16))
    too_large = save_like(loaded.array * 1e4, loaded, tmp_path / "o2" / "int_denoised.nii.gz")
    assert nib.load(str(too_large)).get_data_dtype() == np.float32
