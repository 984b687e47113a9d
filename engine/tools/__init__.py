"""Tools: offline builders of the data files shipped in engine/data/ (mediapipe
correspondence and 68 table, detector offsets, the model's 68). Each runs as a
`python -m engine COMMAND`; runtime code never imports them."""
