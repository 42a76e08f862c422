/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Test filter with a half-size pass, a persistent float trail and the output",
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"},
        {"NAME": "scale", "TYPE": "float", "MIN": 0.1, "MAX": 1.0, "DEFAULT": 0.5},
        {"NAME": "decay", "TYPE": "float", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.9}
    ],
    "PASSES": [
        {"TARGET": "halfSize", "WIDTH": "$WIDTH/2", "HEIGHT": "floor($HEIGHT*$scale)"},
        {"TARGET": "trail", "PERSISTENT": true, "FLOAT": true,
         "WIDTH": "max(1, $WIDTH-4)", "HEIGHT": 64},
        {}
    ]
}*/

void main() {
    vec4 now = IMG_THIS_PIXEL(inputImage);
    if (PASSINDEX == 0) {
        gl_FragColor = now;
    } else if (PASSINDEX == 1) {
        gl_FragColor = max(IMG_THIS_PIXEL(halfSize), IMG_NORM_PIXEL(trail, isf_FragNormCoord) * decay);
    } else {
        gl_FragColor = mix(now, IMG_THIS_PIXEL(trail), 0.5) * (IMG_SIZE(halfSize).x > 0.0 ? 1.0 : 0.0);
    }
}
