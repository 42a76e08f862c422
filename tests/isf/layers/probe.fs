/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test generator: each input shown in its own quarter of the picture",
    "CATEGORIES": ["Test", "Generator"],
    "INPUTS": [
        {"NAME": "amount", "TYPE": "float", "LABEL": "Amount",
         "DEFAULT": 0.25, "MIN": 0.0, "MAX": 1.0},
        {"NAME": "pick", "TYPE": "long", "LABEL": "Pick",
         "VALUES": [0, 2, 4], "LABELS": ["None", "Half", "Full"], "DEFAULT": 2},
        {"NAME": "count", "TYPE": "long", "MIN": 0, "MAX": 8, "DEFAULT": 2},
        {"NAME": "invert", "TYPE": "bool", "DEFAULT": false},
        {"NAME": "flash", "TYPE": "event"},
        {"NAME": "tint", "TYPE": "color", "DEFAULT": [0.0, 0.5, 1.0, 1.0]},
        {"NAME": "centre", "TYPE": "point2D", "DEFAULT": [0.25, 0.75],
         "MIN": [0.0, 0.0], "MAX": [1.0, 1.0]},
        {"NAME": "opacity", "TYPE": "float", "LABEL": "Own opacity",
         "DEFAULT": 1.0, "MIN": 0.0, "MAX": 1.0}
    ]
}*/

// x < 1/4: (amount, pick / 4, invert); x < 1/2: (count / 8, centre);
// x < 3/4: tint; else (opacity, 0, 0). A fired flash makes the whole picture white.
void main() {
    float x = isf_FragNormCoord.x;
    vec4 colour;
    if (x < 0.25) {
        colour = vec4(amount, float(pick) / 4.0, invert ? 1.0 : 0.0, 1.0);
    } else if (x < 0.5) {
        colour = vec4(float(count) / 8.0, centre.x, centre.y, 1.0);
    } else if (x < 0.75) {
        colour = vec4(tint.rgb, 1.0);
    } else {
        colour = vec4(opacity, 0.0, 0.0, 1.0);
    }
    gl_FragColor = flash ? vec4(1.0) : colour;
}
