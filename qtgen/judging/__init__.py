"""A second model's grade of a draft: the judge (`judge`), its store (`store`, judgments.sqlite), approve's judge
gate (`gate`), judging through the Batch API (`batch_api`), and its agreement with reviewers (`calibration`)."""
