/*{
    "ISFVSN": "2.0",
    "DESCRIPTION": "Test transition: a soft wipe from left to right",
    "CATEGORIES": ["Transition"],
    "INPUTS": [
        {"NAME": "startImage", "TYPE": "image"},
        {"NAME": "endImage", "TYPE": "image"},
        {"NAME": "progress", "TYPE": "float"},
        {"NAME": "softness", "TYPE": "float", "MIN": 0.0, "MAX": 0.5, "DEFAULT": 0.1}
    ]
}*/

void main() {
    float edge = smoothstep(progress - softness, progress + softness, isf_FragNormCoord.x);
    gl_FragColor = mix(IMG_THIS_PIXEL(endImage), IMG_THIS_PIXEL(startImage), edge);
}
