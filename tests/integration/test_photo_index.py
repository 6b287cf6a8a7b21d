"""The org's photo index on the real databases (SQLite, PostgreSQL): bands written as processing finishes, and
with copies; gone with their images; a schema made before it existed brought up to date."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone


from adapters.peewee_schema import schema_is_current
from adapters.peewee_uow import PeeweeUnitOfWorkFactory
from core.domain import Image, Rendition, copy_of
from core.photo_checks import BANDS, DUPLICATE_DISTANCE, PhotoChecks

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ORG, OTHER_ORG = "org-a", "org-b"
HASH = 0x0F0F_1234_ABCD_8001


def checks(value: int) -> PhotoChecks:
    return PhotoChecks(value, "L00000fQfQfQfQfQfQfQfQfQfQfQ", 500.0, 128.0, 0.0, 0.0)


def processed(factory, org: str, perceptual_hash: int | None, md5: str | None = None) -> tuple[uuid.UUID, Image]:
    """A realty with one image, then its processing finished with this hash (as ImageProcessor does)."""
    realty_uuid = uuid.uuid4()
    image = Image(uuid=uuid.uuid4(), realty_uuid=realty_uuid, storage_key=f"images/{uuid.uuid4()}/o.jpg",
                  content_type="image/jpeg", width=4000, height=3000, file_size=1000,
                  md5=md5 or uuid.uuid4().hex, created_at=T0, modified_at=T0)
    with factory() as uow:
        realty = uow.realties.lock(org, realty_uuid, created_at=T0)
        realty.append([image], T0, "uploads")
        uow.realties.save_images(realty)
        uow.commit()
    if perceptual_hash is not None:
        with factory() as uow:
            realty = uow.realties.lock(org, realty_uuid)
            realty.finish_processing(image.uuid, T0, [Rendition("web", "images/x/web-1.jpg", 1280, 960)],
                                     checks=checks(perceptual_hash))
            uow.realties.save_images(realty)
            uow.commit()
    return realty_uuid, find(factory, org, image.uuid)


def find(factory, org: str, image_uuid: uuid.UUID) -> Image:
    with factory(write=False) as uow:
        return uow.realties.find_image(org, image_uuid)


def duplicates(factory, org: str, image: Image):
    with factory(write=False) as uow:
        return uow.photos.duplicates(org, [image], DUPLICATE_DISTANCE)[image.uuid]


def band_rows(factory) -> int:
    with factory(write=False):
        return factory.models.PerceptualBand.select().count()


def test_near_hashes_in_the_org_are_found_and_far_ones_and_other_orgs_are_not(factory):
    _, mine = processed(factory, ORG, HASH)
    near_realty, near = processed(factory, ORG, HASH ^ 0b1111 ^ (1 << 63) ^ (1 << 40))  # 6 bits apart
    processed(factory, ORG, HASH ^ 0x7F)  # 7 bits apart
    processed(factory, OTHER_ORG, HASH)
    [found] = duplicates(factory, ORG, mine)
    assert (found.realty_uuid, found.image_uuid, found.distance, found.identical) == (near_realty, near.uuid, 6, False)
    assert mine.checks == checks(HASH), "the checks are kept with the image"
    assert band_rows(factory) == 4 * BANDS


def test_the_same_bytes_are_found_before_processing_too(factory):
    _, first = processed(factory, ORG, None, md5="a" * 32)
    other_realty, second = processed(factory, ORG, None, md5="a" * 32)
    processed(factory, OTHER_ORG, None, md5="a" * 32)
    [found] = duplicates(factory, ORG, first)
    assert (found.realty_uuid, found.image_uuid, found.distance, found.identical) == (other_realty, second.uuid, 0, True)


def test_a_deleted_image_takes_its_bands_with_it(factory):
    _, mine = processed(factory, ORG, HASH)
    other_realty, other = processed(factory, ORG, HASH ^ 1)
    with factory() as uow:
        realty = uow.realties.lock(ORG, other_realty)
        realty.remove(other.uuid, T0)
        uow.realties.save_images(realty)
        uow.commit()
    assert duplicates(factory, ORG, mine) == []
    assert band_rows(factory) == BANDS


def test_a_copied_image_is_indexed_as_it_is_saved(factory):
    _, mine = processed(factory, ORG, HASH)
    target = uuid.uuid4()
    with factory() as uow:
        realty = uow.realties.lock(ORG, target, created_at=T0)
        realty.append([copy_of(mine, uuid.uuid4(), target, T0)], T0, "copy")
        uow.realties.save_images(realty)
        uow.commit()
    [found] = duplicates(factory, ORG, mine)
    assert found.realty_uuid == target and found.identical and found.distance == 0


def test_a_schema_made_before_the_photo_index_is_brought_up_to_date(database_url):
    old = PeeweeUnitOfWorkFactory(database_url)
    old.create_tables()
    with old() as uow:
        old.database.execute_sql('DROP TABLE "perceptual_band"')
        old.database.execute_sql('DROP INDEX "image_md5"')
        old.database.execute_sql('ALTER TABLE "image" DROP COLUMN "checks"')
        uow.commit()
    with old(write=False):
        assert not schema_is_current(old.models)
    old.close()
    upgraded = PeeweeUnitOfWorkFactory(database_url)
    upgraded.create_tables()
    with upgraded(write=False):
        assert schema_is_current(upgraded.models)
    _, mine = processed(upgraded, ORG, HASH)
    _, twin = processed(upgraded, ORG, HASH)
    assert [d.image_uuid for d in duplicates(upgraded, ORG, mine)] == [twin.uuid]
    upgraded.close()


def test_a_lookup_for_many_images_answers_each(factory):
    bases = [HASH ^ (0xFFFF << (16 * n)) for n in range(3)]  # 16 bits or more apart from each other
    pairs = [processed(factory, ORG, base) for base in bases]
    twins = [processed(factory, ORG, base ^ 4) for base in bases]
    images = [image for _, image in pairs]
    with factory(write=False) as uow:
        found = uow.photos.duplicates(ORG, images, DUPLICATE_DISTANCE)
    assert {image.uuid: [d.image_uuid for d in found[image.uuid]] for image in images} == {
        image.uuid: [twin.uuid] for image, (_, twin) in zip(images, twins)}
