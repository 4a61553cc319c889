"""A review's inputs read together: the protocol, ``studies.csv`` and ``extraction.csv``,
validated against each other (the one reader of ``extraction.csv`` that jobs use), and
one outcome's per-study table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metareview.engine import measures
from metareview.inputs.protocol import (
    check_against_studies,
    check_moderator_cells,
    load_protocol,
    outcome_arms,
    outcome_kind,
    outcome_measures,
    protocol_arms,
    rows_outcome,
)
from metareview.inputs.rob import read_assessments
from metareview.inputs.tables import (
    ArmTable,
    Extraction,
    StudyTable,
    continuous_table,
    generic_table,
    load_extraction,
    load_studies,
    mean_table,
    single_arm_table,
    two_arm_table,
)


@dataclass
class ReviewInputs:
    protocol: dict
    studies: StudyTable
    extraction: Extraction
    protocol_path: str | Path

    @classmethod
    def load(cls, protocol_path: str | Path, studies_path, extraction_path) -> ReviewInputs:
        """Protocol, studies and extraction, validated against each other."""
        protocol = load_protocol(protocol_path)
        studies = load_studies(studies_path)
        check_against_studies(protocol, protocol_path, studies)
        if protocol.get("risk_of_bias"):
            # unknown judgements are errors naming file, row and column
            read_assessments(list(studies), protocol["risk_of_bias"]["tool"], path=studies_path)
        extraction = load_extraction(
            extraction_path,
            studies,
            {o["id"] for o in protocol["outcomes"]},
            protocol_arms(protocol),
            outcome_measures(protocol),
        )
        check_moderator_cells(protocol, protocol_path, studies, extraction)
        return cls(protocol, studies, extraction, protocol_path)

    def outcome_table(self, outcome: str) -> ArmTable:
        """Per-study counts of one outcome plus every study covariate."""
        arms = outcome_arms(self.protocol, outcome)
        covariates = [c for c in self.studies.columns if c not in ("study_id",)]
        source = rows_outcome(self.protocol, outcome)
        kind = outcome_kind(self.protocol, outcome)
        if kind == measures.GENERIC:
            return generic_table(self.extraction, self.studies, source, covariates)
        if kind == measures.TWO_ARM_CONTINUOUS:
            return continuous_table(
                self.extraction, self.studies, source, arms[0], arms[1], covariates
            )
        if kind == measures.SINGLE_ARM_CONTINUOUS:
            return mean_table(self.extraction, self.studies, source, arms[0], covariates)
        if len(arms) == 2:
            table = two_arm_table(
                self.extraction, self.studies, source, arms[0], arms[1], covariates
            )
        else:
            table = single_arm_table(self.extraction, self.studies, source, arms[0], covariates)
        table.outcome = outcome
        return table
