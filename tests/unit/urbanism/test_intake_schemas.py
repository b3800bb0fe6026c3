"""The CERFA blocks of the urbanism intake (urbanism.md §4): one schema per authorisation type,
valid payloads accepted, hostile ones refused with a French error a person can act on (the
errors go through ``french_errors`` exactly as ``channels.intake.submit`` does)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.kernel.validation import french_errors
from workflows.procedures.urbanism import intake
from workflows.procedures.urbanism.facts import Exception_, FileKind, PermitType

pytestmark = pytest.mark.unit

VALID_SIRET = "73282932000074"  # Luhn-valid (a well-known public example)


def person(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "personne_physique",
        "civility": "Mme",
        "family_name": "Dupont",
        "given_name": "Jeanne",
        "address": {"street": "3 rue des Lilas", "postal_code": "69001", "city": "Lyon"},
        "email": "jeanne@example.org",
        "electronic_consent": True,
    }
    body.update(overrides)
    return body


def company(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "personne_morale",
        "name": "SCI Les Tilleuls",
        "siret": "732 829 320 00074",
        "legal_form": "SCI",
        "representative": {"family_name": "Martin", "given_name": "Paul", "capacity": "gérant"},
        "address": {"street": "1 place Bellecour", "postal_code": "69002", "city": "Lyon"},
    }
    body.update(overrides)
    return body


def land(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "address": {"street": "12 chemin du Moulin", "postal_code": "69001", "city": "Lyon"},
        "parcels": [
            {"section": "AB", "numero": "12", "area": 500},
            {"section": "ab", "numero": "0013", "area": 300},
        ],
        "total_area": 800,
    }
    body.update(overrides)
    return body


def building_project(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nature_of_works": ["construction_nouvelle"],
        "description": "Maison de plain-pied avec garage",
        "floor_areas": [{"destination": "habitation", "created": 120.5}],
        "footprint": 140,
        "dwellings": 1,
        "height": 5.2,
    }
    body.update(overrides)
    return body


PAYLOADS: dict[PermitType, dict[str, Any]] = {
    PermitType.PCMI: {
        "applicants": [person()],
        "land": land(),
        "project": building_project(),
        "pieces": ["PCMI1", "pcmi 2"],
    },
    PermitType.PC: {
        "applicants": [company(), person()],
        "architect": {
            "family_name": "Lefèvre",
            "given_name": "Anne",
            "registration_number": "S12345",
        },
        "land": land(),
        "project": building_project(dwellings=12, parking_spaces=15),
        "flags": {"erp": True},
        "pieces": ["PC1", "PC39"],
    },
    PermitType.PA: {
        "applicants": [company()],
        "land": land(),
        "project": {
            "nature_of_works": ["lotissement"],
            "description": "Lotissement de 8 lots",
            "lots": 8,
            "max_floor_area": 1600,
        },
    },
    PermitType.PD: {
        "applicants": [person()],
        "land": land(),
        "project": {"extent": "totale", "description": "Démolition d'un hangar agricole"},
        "pieces": ["PD1", "PD2", "PD3"],
    },
    PermitType.DP: {
        "applicants": [person()],
        "land": land(),
        "project": {
            "nature_of_works": ["abattage_arbres"],
            "description": "Abattage de trois peupliers",
            "maison_individuelle": True,
            "tree_felling": True,
        },
        "pieces": ["DPC1"],
    },
    PermitType.CUA: {"applicants": [person()], "land": land(), "pieces": ["CU1"]},
    PermitType.CUB: {
        "applicants": [person()],
        "land": land(),
        "operation": {
            "description": "Construction d'une maison individuelle",
            "destinations": ["habitation"],
            "floor_area": 110,
        },
        "pieces": ["CU1", "CU2"],
    },
}


def errors_of(schema: type[BaseModel], payload: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        schema.model_validate(payload)
    return french_errors(caught.value, prefix="payload")


def messages(errors: list[dict[str, Any]]) -> str:
    return " | ".join(f"{e['field']}: {e['message']}" for e in errors)


@pytest.mark.parametrize("permit_type", list(PermitType))
def test_a_valid_payload_of_each_type_is_accepted_and_round_trips(permit_type: PermitType) -> None:
    schema = intake.intake_schema(permit_type)
    model = schema.model_validate(PAYLOADS[permit_type])
    dumped = model.model_dump(mode="json")
    assert schema.model_validate(dumped).model_dump(mode="json") == dumped
    assert dumped["applicants"][0]["kind"] in ("personne_physique", "personne_morale")
    schema.model_json_schema()  # the web form and the procedure export need it


def test_parcels_and_codes_are_normalised() -> None:
    dumped = (
        intake.intake_schema(PermitType.PCMI)
        .model_validate(PAYLOADS[PermitType.PCMI])
        .model_dump(mode="json")
    )
    assert [(p["section"], p["numero"]) for p in dumped["land"]["parcels"]] == [
        ("AB", "12"),
        ("AB", "13"),
    ]
    assert dumped["pieces"] == ["PCMI1", "PCMI2"]
    assert dumped["cerfa"] == "13406"


def test_company_siret_is_stored_without_spaces() -> None:
    dumped = intake.intake_schema(PermitType.PC).model_validate(PAYLOADS[PermitType.PC])
    assert dumped.model_dump()["applicants"][0]["siret"] == VALID_SIRET


def test_dp_cerfa_follows_maison_individuelle_13703_or_13404() -> None:
    schema = intake.intake_schema(PermitType.DP)
    house = schema.model_validate(PAYLOADS[PermitType.DP]).model_dump()
    assert house["cerfa"] == "13703"
    other = copy.deepcopy(PAYLOADS[PermitType.DP])
    other["project"]["maison_individuelle"] = False
    assert schema.model_validate(other).model_dump()["cerfa"] == "13404"
    other["cerfa"] = "13703"
    assert "13404" in messages(errors_of(schema, other))


# ----- hostile payloads -----------------------------------------------------------------------


def test_bad_siret_is_refused_with_the_luhn_explanation() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PC])
    payload["applicants"][0]["siret"] = "73282932000075"
    errors = errors_of(intake.intake_schema(PermitType.PC), payload)
    assert len(errors) == 1
    assert errors[0]["field"] == "payload.applicants.0.personne_morale.siret"
    assert "SIRET invalide" in errors[0]["message"]
    assert "clé de contrôle" in errors[0]["message"]


def test_siret_with_full_width_digits_is_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PC])
    payload["applicants"][0]["siret"] = "７３２８２９３２０００７４"
    assert "SIRET invalide" in messages(errors_of(intake.intake_schema(PermitType.PC), payload))


def test_parcel_z9999x_is_refused_section_and_number_explained() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["parcels"] = [{"section": "Z9999X", "numero": "Z9999X", "area": 10}]
    payload["land"]["total_area"] = 10
    text = messages(errors_of(intake.intake_schema(PermitType.PCMI), payload))
    assert "section cadastrale « Z9999X » invalide : 1 ou 2 lettres" in text
    assert "numéro de parcelle « Z9999X » invalide : 1 à 4 chiffres" in text


def test_parcel_number_zero_and_bad_prefix_are_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["parcels"] = [{"prefixe": "12", "section": "AB", "numero": "0000", "area": 10}]
    payload["land"]["total_area"] = 10
    text = messages(errors_of(intake.intake_schema(PermitType.PCMI), payload))
    assert "préfixe cadastral : 3 chiffres" in text
    assert "numéro de parcelle « 0000 »" in text


def test_negative_areas_are_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["parcels"][0]["area"] = -5
    payload["project"]["floor_areas"] = [{"destination": "habitation", "created": -10}]
    payload["project"]["footprint"] = -1
    errors = errors_of(intake.intake_schema(PermitType.PCMI), payload)
    fields = {e["field"] for e in errors}
    assert "payload.land.parcels.0.area" in fields
    assert "payload.project.floor_areas.0.created" in fields
    assert "payload.project.footprint" in fields
    assert all("supérieur" in e["message"] for e in errors)


def test_nan_and_infinite_areas_are_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["project"]["height"] = float("nan")
    payload["project"]["footprint"] = float("inf")
    fields = {e["field"] for e in errors_of(intake.intake_schema(PermitType.PCMI), payload)}
    assert fields == {"payload.project.height", "payload.project.footprint"}


def test_removed_floor_area_cannot_exceed_existing() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["project"]["floor_areas"] = [
        {"destination": "habitation", "existing": 50, "removed": 80}
    ]
    assert "dépasse la surface existante" in messages(
        errors_of(intake.intake_schema(PermitType.PCMI), payload)
    )


def test_land_total_area_larger_than_its_parcels_is_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["total_area"] = 900
    assert "supérieure à celle des parcelles (800 m²)" in messages(
        errors_of(intake.intake_schema(PermitType.PCMI), payload)
    )


def test_10000_parcels_are_refused_as_too_long() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["parcels"] = [
        {"section": "AB", "numero": str(i % 9999 + 1), "area": 1} for i in range(10_000)
    ]
    errors = errors_of(intake.intake_schema(PermitType.PCMI), payload)
    assert errors == [
        {
            "field": "payload.land.parcels",
            "message": f"liste trop longue (au plus {intake.MAX_PARCELS} éléments)",
            "type": "too_long",
        }
    ]


def test_duplicate_parcel_is_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["parcels"][1] = {"section": "AB", "numero": "012", "area": 300}
    assert "parcelle AB 12 indiquée deux fois" in messages(
        errors_of(intake.intake_schema(PermitType.PCMI), payload)
    )


def test_missing_applicant_is_refused() -> None:
    applicants: list[Any] | None
    for applicants in ([], None):
        payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
        payload["applicants"] = applicants
        errors = errors_of(intake.intake_schema(PermitType.PCMI), payload)
        assert errors[0]["field"] == "payload.applicants"
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    del payload["applicants"]
    assert errors_of(intake.intake_schema(PermitType.PCMI), payload)[0] == {
        "field": "payload.applicants",
        "message": "champ obligatoire manquant",
        "type": "missing",
    }


def test_applicant_without_kind_gets_a_french_explanation() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["applicants"] = [{"family_name": "Dupont"}, "Jeanne"]
    errors = errors_of(intake.intake_schema(PermitType.PCMI), payload)
    assert [e["field"] for e in errors] == ["payload.applicants.0", "payload.applicants.1"]
    assert all("personne_physique" in e["message"] for e in errors)


def test_unicode_names_are_kept_control_characters_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["applicants"][0]["family_name"] = "Nguyễn-Ølsen 李"
    payload["project"]["description"] = "Maison ⌂ avec véranda\nsur deux niveaux"
    dumped = intake.intake_schema(PermitType.PCMI).model_validate(payload).model_dump()
    assert dumped["applicants"][0]["family_name"] == "Nguyễn-Ølsen 李"
    for hostile in ("Dupont\x00", "Dup\u202eont", "\ud800"):
        payload["applicants"][0]["family_name"] = hostile
        text = messages(errors_of(intake.intake_schema(PermitType.PCMI), payload))
        assert "caractère non imprimable" in text or "caractère Unicode invalide" in text


def test_oversized_texts_and_unknown_fields_are_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["project"]["description"] = "x" * 4001
    payload["applicants"][0]["family_name"] = "D" * 101
    payload["surprise"] = 1
    errors = errors_of(intake.intake_schema(PermitType.PCMI), payload)
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["payload.project.description"] == "texte trop long (au plus 4000 caractères)"
    assert by_field["payload.surprise"] == "champ inconnu"
    assert "payload.applicants.0.personne_physique.family_name" in by_field


def test_wrong_types_are_refused_not_crashing() -> None:
    schema = intake.intake_schema(PermitType.PC)
    garbage: Any
    for garbage in ([], "texte", 42, None, {"applicants": "x", "land": [], "project": 3}):
        assert errors_of(schema, garbage)


def test_electronic_consent_needs_an_email() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    del payload["applicants"][0]["email"]
    assert "indiquez un courriel" in messages(
        errors_of(intake.intake_schema(PermitType.PCMI), payload)
    )


def test_pieces_of_another_type_are_refused() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["pieces"] = ["DP1", "<script>"]
    text = messages(errors_of(intake.intake_schema(PermitType.PCMI), payload))
    assert "pièce « DP1 » : code CERFA attendu pour un permis de construire de maison" in text


def test_pcmi_with_three_dwellings_is_refused_l231_1_cch() -> None:
    """A maison individuelle has at most two dwellings (L231-1 CCH [to confirm])."""
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["project"]["dwellings"] = 3
    assert "au plus deux logements" in messages(
        errors_of(intake.intake_schema(PermitType.PCMI), payload)
    )


def test_cua_takes_no_architect_nor_project() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.CUA])
    payload["architect"] = {"family_name": "A", "given_name": "B", "registration_number": "1"}
    payload["project"] = building_project()
    fields = {e["field"] for e in errors_of(intake.intake_schema(PermitType.CUA), payload)}
    assert fields == {"payload.architect", "payload.project"}


def test_cub_needs_the_projected_operation() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.CUB])
    del payload["operation"]
    assert errors_of(intake.intake_schema(PermitType.CUB), payload)[0]["field"] == (
        "payload.operation"
    )


# ----- follow-ups -----------------------------------------------------------------------------


def modificatif(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "parent_number": "PC 069 001 26 00012",
        "applicants": [person()],
        "changes": "Ajout d'une fenêtre en façade sud",
        "maison_individuelle": True,
        "pieces": ["PCMI5"],
    }
    body.update(overrides)
    return body


def test_modificatif_schema_requires_the_parent_number_and_stores_it_compact() -> None:
    schema = intake.intake_schema(PermitType.PC, FileKind.MODIFICATIF)
    assert schema is intake.follow_up_schema(FileKind.MODIFICATIF)
    dumped = schema.model_validate(modificatif()).model_dump()
    assert dumped["parent_number"] == "PC0690012600012"
    assert dumped["cerfa"] == "13411"
    body = modificatif()
    del body["parent_number"]
    assert errors_of(schema, body)[0]["field"] == "payload.parent_number"


def test_modificatif_refuses_a_garbage_or_follow_up_parent_number() -> None:
    schema = intake.follow_up_schema(FileKind.MODIFICATIF)
    assert "Numéro de dossier invalide" in messages(
        errors_of(schema, modificatif(parent_number="n'importe quoi"))
    )
    assert "indiquez le numéro de l'autorisation initiale" in messages(
        errors_of(schema, modificatif(parent_number="PC0690012600012M01"))
    )
    assert "certificat d'urbanisme" in messages(
        errors_of(schema, modificatif(parent_number="CU 069 001 26 00001"))
    )


def test_transfert_needs_the_holders_consent() -> None:
    schema = intake.follow_up_schema(FileKind.TRANSFERT)
    body = {
        "parent_number": "PA0690012600003",
        "applicants": [company()],
        "holder_consent": True,
    }
    assert schema.model_validate(body).model_dump()["cerfa"] == "13412"
    body["holder_consent"] = False
    assert "accord du titulaire" in messages(errors_of(schema, body))
    assert intake.intake_schema(PermitType.PC, FileKind.TRANSFERT) is schema


# ----- summary --------------------------------------------------------------------------------


def dumped(permit_type: PermitType, payload: dict[str, Any]) -> dict[str, Any]:
    return intake.intake_schema(permit_type).model_validate(payload).model_dump(mode="json")


def test_summary_of_a_pcmi() -> None:
    s = intake.summary(dumped(PermitType.PCMI, PAYLOADS[PermitType.PCMI]))
    assert s.applicant_name == "Jeanne Dupont"
    assert s.address == "12 chemin du Moulin, 69001 Lyon"
    assert s.parcels == "AB 12, AB 13"
    assert s.maison_individuelle is True
    assert s.exceptions == frozenset()
    assert s.protected_area is False
    assert s.pieces == ("PCMI1", "PCMI2")
    assert s.parent_number is None


def test_summary_of_a_company_with_a_prefixed_parcel() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PC])
    payload["land"]["parcels"][0]["prefixe"] = "012"
    s = intake.summary(dumped(PermitType.PC, payload))
    assert s.applicant_name == "SCI Les Tilleuls"
    assert s.applicants == ("SCI Les Tilleuls", "Jeanne Dupont")
    assert s.parcels == "012 AB 12, AB 13"
    assert s.protected_area is True  # ERP: récolement compulsory (R462-7)
    assert s.maison_individuelle is False


def test_summary_of_a_dp_for_tree_felling_l424_9() -> None:
    s = intake.summary(dumped(PermitType.DP, PAYLOADS[PermitType.DP]))
    assert s.tree_felling is True
    assert s.maison_individuelle is True
    assert s.cerfa == "13703"


def test_r424_2_exceptions_derived_from_the_flags() -> None:
    """R424-2: immeuble inscrit MH, site classé, enquête publique → silence means rejection;
    R424-2-1: évaluation environnementale (the timeline checks the filing date)."""
    payload = copy.deepcopy(PAYLOADS[PermitType.PC])
    payload["flags"] = {
        "immeuble_inscrit_mh": True,
        "site_classe": True,
        "enquete_publique": True,
        "evaluation_environnementale": True,
    }
    s = intake.summary(dumped(PermitType.PC, payload))
    assert s.exceptions == {
        Exception_.MONUMENT_INSCRIT_OR_ADJOINING,
        Exception_.SITE_CLASSE_OR_RESERVE,
        Exception_.PUBLIC_INQUIRY,
        Exception_.ENVIRONMENTAL_ASSESSMENT,
    }
    assert s.protected_area is True


def test_demolition_in_a_site_inscrit_ce_2020_421949() -> None:
    """R424-2: demolition in a site inscrit → rejection, also inside a mixed PC+PD
    (CE 12 févr. 2020 n°421949); a PC without demolition in a site inscrit is not concerned."""
    pd = copy.deepcopy(PAYLOADS[PermitType.PD])
    pd["flags"] = {"site_inscrit": True}
    assert intake.summary(dumped(PermitType.PD, pd)).exceptions == {
        Exception_.DEMOLITION_SITE_INSCRIT
    }
    pc = copy.deepcopy(PAYLOADS[PermitType.PC])
    pc["flags"] = {"site_inscrit": True}
    assert intake.summary(dumped(PermitType.PC, pc)).exceptions == frozenset()
    pc["project"]["demolition"] = True
    assert intake.summary(dumped(PermitType.PC, pc)).exceptions == {
        Exception_.DEMOLITION_SITE_INSCRIT
    }


def test_summary_of_a_modificatif_keeps_the_parent_number() -> None:
    payload = intake.follow_up_schema(FileKind.MODIFICATIF).model_validate(modificatif())
    s = intake.summary(payload.model_dump(mode="json"))
    assert s.parent_number == "PC0690012600012"
    assert s.maison_individuelle is True
    assert s.applicant_name == "Jeanne Dupont"


def test_summary_is_tolerant_and_clips_to_the_column_sizes() -> None:
    assert intake.summary({}).applicant_name == ""
    assert intake.summary({"applicants": "x", "land": [], "pieces": {}}).pieces == ()
    many = [{"section": "AB", "numero": str(i), "area": 1} for i in range(1, 200)]
    s = intake.summary({"land": {"parcels": many}})
    assert len(s.parcels) == 400 and s.parcels.endswith("…")


def test_full_width_digits_are_refused_in_codes() -> None:
    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["address"]["postal_code"] = "６９００１"
    payload["land"]["parcels"][0]["numero"] = "１２"
    fields = {e["field"] for e in errors_of(intake.intake_schema(PermitType.PCMI), payload)}
    assert fields == {"payload.land.address.postal_code", "payload.land.parcels.0.numero"}


def test_the_pieces_rules_read_the_situations_from_a_validated_payload() -> None:
    """The intake field names and the pieces rules agree: a PCMI in a lotissement with a
    demolition and a non-collective sanitation requires PCMI9, PCMI10, PCMIA1, PCMIA2, PCMI12-1."""
    from workflows.procedures.urbanism import pieces

    payload = copy.deepcopy(PAYLOADS[PermitType.PCMI])
    payload["land"]["in_lotissement"] = True
    payload["project"]["demolition"] = True
    payload["project"]["non_collective_sanitation"] = True
    payload["flags"] = {"ppr": True}
    required = pieces.mandatory_pieces(PermitType.PCMI, dumped(PermitType.PCMI, payload))
    assert {"PCMI9", "PCMI10", "PCMIA1", "PCMIA2", "PCMI12-1", "PCMI13"} <= set(required)
    plain = pieces.mandatory_pieces(
        PermitType.PCMI, dumped(PermitType.PCMI, PAYLOADS[PermitType.PCMI])
    )
    assert plain == tuple(f"PCMI{i}" for i in range(1, 9))
    dp = dumped(PermitType.DP, PAYLOADS[PermitType.DP])
    assert pieces.mandatory_pieces(PermitType.DP, dp) == ("DPC1",)
