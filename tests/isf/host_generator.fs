/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Host test generator: every value input reaches the picture",
    "INPUTS": [
        {"NAME": "level", "TYPE": "float", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.5},
        {"NAME": "mode", "TYPE": "long", "VALUES": [0, 1, 2],
         "LABELS": ["Tint", "Point", "Gradient"], "DEFAULT": 0},
        {"NAME": "invert", "TYPE": "bool", "DEFAULT": false},
        {"NAME": "tint", "TYPE": "color", "DEFAULT": [1.0, 0.5, 0.25, 1.0]},
        {"NAME": "centre", "TYPE": "point2D", "DEFAULT": [0.25, 0.75]}
    ]
}*/

void main() {
    vec3 colour;
    if (mode == 0) {
        colour = tint.rgb * level;
    } else if (mode == 1) {
        colour = vec3(centre, 0.0);
    } else {
        colour = vec3(isf_FragNormCoord, 0.0);  // y up: bright green at the top
    }
    if (invert) colour = 1.0 - colour;
    gl_FragColor = vec4(colour, 1.0);
}
